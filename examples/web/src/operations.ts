// Every GraphQL operation of the app. `npm run codegen` reads them (and ../../schema.graphql)
// and writes typed documents to src/gql/: `graphql(...)` then returns a TypedDocumentNode,
// so `useQuery(CatalogueQuery)` knows the shape of `data` and of the variables.
import { graphql } from './gql';

export const AuthFields = graphql(`
  fragment AuthFields on AuthPayload {
    accessToken
    refreshToken
    csrfToken
    refreshCsrfToken
    expiresIn
    mfaRequired
    user {
      id
      username
      role
      mfaEnabled
    }
  }
`);

export const SignupMutation = graphql(`
  mutation Signup($input: SignupInput!) {
    signup(input: $input) {
      ...AuthFields
    }
  }
`);

export const LoginMutation = graphql(`
  mutation Login($input: LoginInput!) {
    login(input: $input) {
      ...AuthFields
    }
  }
`);

/** Sent by src/auth.ts with fetch, outside Apollo's link chain (see refreshOnce). */
export const RefreshMutation = graphql(`
  mutation Refresh($refreshToken: String) {
    refresh(refreshToken: $refreshToken) {
      ...AuthFields
    }
  }
`);

export const LogoutMutation = graphql(`
  mutation Logout($refreshToken: String, $scope: LogoutScope) {
    logout(refreshToken: $refreshToken, scope: $scope)
  }
`);

export const ItemFields = graphql(`
  fragment ItemFields on Item {
    id
    name
    description
    price
    updatedAt
    store {
      id
      name
    }
    owner {
      id
      username
    }
  }
`);

/** `owner` requires an authenticated caller: anonymous callers get data *and* errors. */
export const CatalogueQuery = graphql(`
  query Catalogue {
    stores(first: 50) {
      nodes {
        id
        name
      }
    }
    items(first: 100) {
      totalCount
      nodes {
        ...ItemFields
      }
    }
  }
`);

export const CreateItemMutation = graphql(`
  mutation CreateItem($input: CreateItemInput!) {
    createItem(input: $input) {
      ...ItemFields
    }
  }
`);

export const UpdateItemMutation = graphql(`
  mutation UpdateItem($id: ID!, $input: UpdateItemInput!) {
    updateItem(id: $id, input: $input) {
      ...ItemFields
    }
  }
`);

/** Requires a fresh token (schema.graphql: "Requires: a fresh token and the item's owner"). */
export const DeleteItemMutation = graphql(`
  mutation DeleteItem($id: ID!) {
    deleteItem(id: $id)
  }
`);

export const ItemEventsSubscription = graphql(`
  subscription ItemEvents {
    itemEvents {
      kind
      itemId
      item {
        ...ItemFields
      }
    }
  }
`);

export const MeQuery = graphql(`
  query Me {
    me {
      id
      username
      role
      email
      emailVerified
      createdAt
      mfaEnabled
      recoveryCodesLeft
    }
  }
`);

export const MyItemsQuery = graphql(`
  query MyItems {
    me {
      id
      items(first: 100) {
        totalCount
        nodes {
          id
          name
          price
        }
      }
    }
  }
`);

export const StoresQuery = graphql(`
  query Stores {
    stores(first: 50) {
      totalCount
      nodes {
        id
        name
      }
    }
  }
`);

export const MySessionsQuery = graphql(`
  query MySessions {
    mySessions {
      id
      createdAt
      lastUsedAt
      userAgent
      ipAddress
      current
    }
  }
`);

export const RevokeSessionMutation = graphql(`
  mutation RevokeSession($id: ID!) {
    revokeSession(id: $id)
  }
`);

/** Requires a fresh token. */
export const ChangePasswordMutation = graphql(`
  mutation ChangePassword($input: ChangePasswordInput!) {
    changePassword(input: $input) {
      ...AuthFields
    }
  }
`);

// ---- account recovery (docs/frontend.md "Forgot password and email verification") ------

/** Public; always `true`, whether or not an account has the address. */
export const RequestPasswordResetMutation = graphql(`
  mutation RequestPasswordReset($email: String!) {
    requestPasswordReset(email: $email)
  }
`);

/** Public: the token from the mail is the credential. Ends every session; logs nobody in. */
export const ResetPasswordMutation = graphql(`
  mutation ResetPassword($token: String!, $newPassword: String!) {
    resetPassword(token: $token, newPassword: $newPassword)
  }
`);

/** Public: the token from the mail (a signup's, a re-sent one, or a `changeEmail`'s). */
export const VerifyEmailMutation = graphql(`
  mutation VerifyEmail($token: String!) {
    verifyEmail(token: $token)
  }
`);

export const RequestEmailVerificationMutation = graphql(`
  mutation RequestEmailVerification {
    requestEmailVerification
  }
`);

/** Requires a fresh token; the address changes once the link mailed to it is followed. */
export const ChangeEmailMutation = graphql(`
  mutation ChangeEmail($newEmail: String!) {
    changeEmail(newEmail: $newEmail)
  }
`);

// ---- the second factor (docs/frontend.md "A second factor: enrolment and step-up") ------

/** Requires a fresh token: a new secret, pending until confirmTotp. */
export const EnrollTotpMutation = graphql(`
  mutation EnrollTotp {
    enrollTotp {
      secret
      uri
      qrSvg
    }
  }
`);

/** Activates the factor: recovery codes (shown once) and a level-2 pair. */
export const ConfirmTotpMutation = graphql(`
  mutation ConfirmTotp($code: String!) {
    confirmTotp(code: $code) {
      recoveryCodes
      tokens {
        ...AuthFields
      }
    }
  }
`);

/** Sent by src/auth.ts with fetch: the second step of a login, and step-up. */
export const VerifyMfaMutation = graphql(`
  mutation VerifyMfa($code: String!) {
    verifyMfa(code: $code) {
      ...AuthFields
    }
  }
`);

/** Requires a fresh level-2 token, and a current code or a recovery code. */
export const DisableTotpMutation = graphql(`
  mutation DisableTotp($code: String!) {
    disableTotp(code: $code)
  }
`);

/** Requires role ADMIN (the Dashboard asks it of admins only). */
export const UsersCountQuery = graphql(`
  query UsersCount {
    users(first: 1) {
      totalCount
    }
  }
`);
