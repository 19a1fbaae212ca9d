/* eslint-disable */
import * as types from './graphql';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  fragment AuthFields on AuthPayload {\n    accessToken\n    refreshToken\n    csrfToken\n    refreshCsrfToken\n    expiresIn\n    mfaRequired\n    user {\n      id\n      username\n      role\n      mfaEnabled\n    }\n  }\n": typeof types.AuthFieldsFragmentDoc,
    "\n  mutation Signup($input: SignupInput!) {\n    signup(input: $input) {\n      ...AuthFields\n    }\n  }\n": typeof types.SignupDocument,
    "\n  mutation Login($input: LoginInput!) {\n    login(input: $input) {\n      ...AuthFields\n    }\n  }\n": typeof types.LoginDocument,
    "\n  mutation Refresh($refreshToken: String) {\n    refresh(refreshToken: $refreshToken) {\n      ...AuthFields\n    }\n  }\n": typeof types.RefreshDocument,
    "\n  mutation Logout($refreshToken: String, $scope: LogoutScope) {\n    logout(refreshToken: $refreshToken, scope: $scope)\n  }\n": typeof types.LogoutDocument,
    "\n  fragment ItemFields on Item {\n    id\n    name\n    description\n    price\n    updatedAt\n    store {\n      id\n      name\n    }\n    owner {\n      id\n      username\n    }\n  }\n": typeof types.ItemFieldsFragmentDoc,
    "\n  query Catalogue {\n    stores(first: 50) {\n      nodes {\n        id\n        name\n      }\n    }\n    items(first: 100) {\n      totalCount\n      nodes {\n        ...ItemFields\n      }\n    }\n  }\n": typeof types.CatalogueDocument,
    "\n  mutation CreateItem($input: CreateItemInput!) {\n    createItem(input: $input) {\n      ...ItemFields\n    }\n  }\n": typeof types.CreateItemDocument,
    "\n  mutation UpdateItem($id: ID!, $input: UpdateItemInput!) {\n    updateItem(id: $id, input: $input) {\n      ...ItemFields\n    }\n  }\n": typeof types.UpdateItemDocument,
    "\n  mutation DeleteItem($id: ID!) {\n    deleteItem(id: $id)\n  }\n": typeof types.DeleteItemDocument,
    "\n  subscription ItemEvents {\n    itemEvents {\n      kind\n      itemId\n      item {\n        ...ItemFields\n      }\n    }\n  }\n": typeof types.ItemEventsDocument,
    "\n  query Me {\n    me {\n      id\n      username\n      role\n      email\n      emailVerified\n      createdAt\n      mfaEnabled\n      recoveryCodesLeft\n    }\n  }\n": typeof types.MeDocument,
    "\n  query MyItems {\n    me {\n      id\n      items(first: 100) {\n        totalCount\n        nodes {\n          id\n          name\n          price\n        }\n      }\n    }\n  }\n": typeof types.MyItemsDocument,
    "\n  query Stores {\n    stores(first: 50) {\n      totalCount\n      nodes {\n        id\n        name\n      }\n    }\n  }\n": typeof types.StoresDocument,
    "\n  query MySessions {\n    mySessions {\n      id\n      createdAt\n      lastUsedAt\n      userAgent\n      ipAddress\n      current\n    }\n  }\n": typeof types.MySessionsDocument,
    "\n  mutation RevokeSession($id: ID!) {\n    revokeSession(id: $id)\n  }\n": typeof types.RevokeSessionDocument,
    "\n  mutation ChangePassword($input: ChangePasswordInput!) {\n    changePassword(input: $input) {\n      ...AuthFields\n    }\n  }\n": typeof types.ChangePasswordDocument,
    "\n  mutation RequestPasswordReset($email: String!) {\n    requestPasswordReset(email: $email)\n  }\n": typeof types.RequestPasswordResetDocument,
    "\n  mutation ResetPassword($token: String!, $newPassword: String!) {\n    resetPassword(token: $token, newPassword: $newPassword)\n  }\n": typeof types.ResetPasswordDocument,
    "\n  mutation VerifyEmail($token: String!) {\n    verifyEmail(token: $token)\n  }\n": typeof types.VerifyEmailDocument,
    "\n  mutation RequestEmailVerification {\n    requestEmailVerification\n  }\n": typeof types.RequestEmailVerificationDocument,
    "\n  mutation ChangeEmail($newEmail: String!) {\n    changeEmail(newEmail: $newEmail)\n  }\n": typeof types.ChangeEmailDocument,
    "\n  mutation EnrollTotp {\n    enrollTotp {\n      secret\n      uri\n      qrSvg\n    }\n  }\n": typeof types.EnrollTotpDocument,
    "\n  mutation ConfirmTotp($code: String!) {\n    confirmTotp(code: $code) {\n      recoveryCodes\n      tokens {\n        ...AuthFields\n      }\n    }\n  }\n": typeof types.ConfirmTotpDocument,
    "\n  mutation VerifyMfa($code: String!) {\n    verifyMfa(code: $code) {\n      ...AuthFields\n    }\n  }\n": typeof types.VerifyMfaDocument,
    "\n  mutation DisableTotp($code: String!) {\n    disableTotp(code: $code)\n  }\n": typeof types.DisableTotpDocument,
    "\n  query UsersCount {\n    users(first: 1) {\n      totalCount\n    }\n  }\n": typeof types.UsersCountDocument,
};
const documents: Documents = {
    "\n  fragment AuthFields on AuthPayload {\n    accessToken\n    refreshToken\n    csrfToken\n    refreshCsrfToken\n    expiresIn\n    mfaRequired\n    user {\n      id\n      username\n      role\n      mfaEnabled\n    }\n  }\n": types.AuthFieldsFragmentDoc,
    "\n  mutation Signup($input: SignupInput!) {\n    signup(input: $input) {\n      ...AuthFields\n    }\n  }\n": types.SignupDocument,
    "\n  mutation Login($input: LoginInput!) {\n    login(input: $input) {\n      ...AuthFields\n    }\n  }\n": types.LoginDocument,
    "\n  mutation Refresh($refreshToken: String) {\n    refresh(refreshToken: $refreshToken) {\n      ...AuthFields\n    }\n  }\n": types.RefreshDocument,
    "\n  mutation Logout($refreshToken: String, $scope: LogoutScope) {\n    logout(refreshToken: $refreshToken, scope: $scope)\n  }\n": types.LogoutDocument,
    "\n  fragment ItemFields on Item {\n    id\n    name\n    description\n    price\n    updatedAt\n    store {\n      id\n      name\n    }\n    owner {\n      id\n      username\n    }\n  }\n": types.ItemFieldsFragmentDoc,
    "\n  query Catalogue {\n    stores(first: 50) {\n      nodes {\n        id\n        name\n      }\n    }\n    items(first: 100) {\n      totalCount\n      nodes {\n        ...ItemFields\n      }\n    }\n  }\n": types.CatalogueDocument,
    "\n  mutation CreateItem($input: CreateItemInput!) {\n    createItem(input: $input) {\n      ...ItemFields\n    }\n  }\n": types.CreateItemDocument,
    "\n  mutation UpdateItem($id: ID!, $input: UpdateItemInput!) {\n    updateItem(id: $id, input: $input) {\n      ...ItemFields\n    }\n  }\n": types.UpdateItemDocument,
    "\n  mutation DeleteItem($id: ID!) {\n    deleteItem(id: $id)\n  }\n": types.DeleteItemDocument,
    "\n  subscription ItemEvents {\n    itemEvents {\n      kind\n      itemId\n      item {\n        ...ItemFields\n      }\n    }\n  }\n": types.ItemEventsDocument,
    "\n  query Me {\n    me {\n      id\n      username\n      role\n      email\n      emailVerified\n      createdAt\n      mfaEnabled\n      recoveryCodesLeft\n    }\n  }\n": types.MeDocument,
    "\n  query MyItems {\n    me {\n      id\n      items(first: 100) {\n        totalCount\n        nodes {\n          id\n          name\n          price\n        }\n      }\n    }\n  }\n": types.MyItemsDocument,
    "\n  query Stores {\n    stores(first: 50) {\n      totalCount\n      nodes {\n        id\n        name\n      }\n    }\n  }\n": types.StoresDocument,
    "\n  query MySessions {\n    mySessions {\n      id\n      createdAt\n      lastUsedAt\n      userAgent\n      ipAddress\n      current\n    }\n  }\n": types.MySessionsDocument,
    "\n  mutation RevokeSession($id: ID!) {\n    revokeSession(id: $id)\n  }\n": types.RevokeSessionDocument,
    "\n  mutation ChangePassword($input: ChangePasswordInput!) {\n    changePassword(input: $input) {\n      ...AuthFields\n    }\n  }\n": types.ChangePasswordDocument,
    "\n  mutation RequestPasswordReset($email: String!) {\n    requestPasswordReset(email: $email)\n  }\n": types.RequestPasswordResetDocument,
    "\n  mutation ResetPassword($token: String!, $newPassword: String!) {\n    resetPassword(token: $token, newPassword: $newPassword)\n  }\n": types.ResetPasswordDocument,
    "\n  mutation VerifyEmail($token: String!) {\n    verifyEmail(token: $token)\n  }\n": types.VerifyEmailDocument,
    "\n  mutation RequestEmailVerification {\n    requestEmailVerification\n  }\n": types.RequestEmailVerificationDocument,
    "\n  mutation ChangeEmail($newEmail: String!) {\n    changeEmail(newEmail: $newEmail)\n  }\n": types.ChangeEmailDocument,
    "\n  mutation EnrollTotp {\n    enrollTotp {\n      secret\n      uri\n      qrSvg\n    }\n  }\n": types.EnrollTotpDocument,
    "\n  mutation ConfirmTotp($code: String!) {\n    confirmTotp(code: $code) {\n      recoveryCodes\n      tokens {\n        ...AuthFields\n      }\n    }\n  }\n": types.ConfirmTotpDocument,
    "\n  mutation VerifyMfa($code: String!) {\n    verifyMfa(code: $code) {\n      ...AuthFields\n    }\n  }\n": types.VerifyMfaDocument,
    "\n  mutation DisableTotp($code: String!) {\n    disableTotp(code: $code)\n  }\n": types.DisableTotpDocument,
    "\n  query UsersCount {\n    users(first: 1) {\n      totalCount\n    }\n  }\n": types.UsersCountDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment AuthFields on AuthPayload {\n    accessToken\n    refreshToken\n    csrfToken\n    refreshCsrfToken\n    expiresIn\n    mfaRequired\n    user {\n      id\n      username\n      role\n      mfaEnabled\n    }\n  }\n"): (typeof documents)["\n  fragment AuthFields on AuthPayload {\n    accessToken\n    refreshToken\n    csrfToken\n    refreshCsrfToken\n    expiresIn\n    mfaRequired\n    user {\n      id\n      username\n      role\n      mfaEnabled\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation Signup($input: SignupInput!) {\n    signup(input: $input) {\n      ...AuthFields\n    }\n  }\n"): (typeof documents)["\n  mutation Signup($input: SignupInput!) {\n    signup(input: $input) {\n      ...AuthFields\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation Login($input: LoginInput!) {\n    login(input: $input) {\n      ...AuthFields\n    }\n  }\n"): (typeof documents)["\n  mutation Login($input: LoginInput!) {\n    login(input: $input) {\n      ...AuthFields\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation Refresh($refreshToken: String) {\n    refresh(refreshToken: $refreshToken) {\n      ...AuthFields\n    }\n  }\n"): (typeof documents)["\n  mutation Refresh($refreshToken: String) {\n    refresh(refreshToken: $refreshToken) {\n      ...AuthFields\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation Logout($refreshToken: String, $scope: LogoutScope) {\n    logout(refreshToken: $refreshToken, scope: $scope)\n  }\n"): (typeof documents)["\n  mutation Logout($refreshToken: String, $scope: LogoutScope) {\n    logout(refreshToken: $refreshToken, scope: $scope)\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment ItemFields on Item {\n    id\n    name\n    description\n    price\n    updatedAt\n    store {\n      id\n      name\n    }\n    owner {\n      id\n      username\n    }\n  }\n"): (typeof documents)["\n  fragment ItemFields on Item {\n    id\n    name\n    description\n    price\n    updatedAt\n    store {\n      id\n      name\n    }\n    owner {\n      id\n      username\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Catalogue {\n    stores(first: 50) {\n      nodes {\n        id\n        name\n      }\n    }\n    items(first: 100) {\n      totalCount\n      nodes {\n        ...ItemFields\n      }\n    }\n  }\n"): (typeof documents)["\n  query Catalogue {\n    stores(first: 50) {\n      nodes {\n        id\n        name\n      }\n    }\n    items(first: 100) {\n      totalCount\n      nodes {\n        ...ItemFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateItem($input: CreateItemInput!) {\n    createItem(input: $input) {\n      ...ItemFields\n    }\n  }\n"): (typeof documents)["\n  mutation CreateItem($input: CreateItemInput!) {\n    createItem(input: $input) {\n      ...ItemFields\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation UpdateItem($id: ID!, $input: UpdateItemInput!) {\n    updateItem(id: $id, input: $input) {\n      ...ItemFields\n    }\n  }\n"): (typeof documents)["\n  mutation UpdateItem($id: ID!, $input: UpdateItemInput!) {\n    updateItem(id: $id, input: $input) {\n      ...ItemFields\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DeleteItem($id: ID!) {\n    deleteItem(id: $id)\n  }\n"): (typeof documents)["\n  mutation DeleteItem($id: ID!) {\n    deleteItem(id: $id)\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription ItemEvents {\n    itemEvents {\n      kind\n      itemId\n      item {\n        ...ItemFields\n      }\n    }\n  }\n"): (typeof documents)["\n  subscription ItemEvents {\n    itemEvents {\n      kind\n      itemId\n      item {\n        ...ItemFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Me {\n    me {\n      id\n      username\n      role\n      email\n      emailVerified\n      createdAt\n      mfaEnabled\n      recoveryCodesLeft\n    }\n  }\n"): (typeof documents)["\n  query Me {\n    me {\n      id\n      username\n      role\n      email\n      emailVerified\n      createdAt\n      mfaEnabled\n      recoveryCodesLeft\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query MyItems {\n    me {\n      id\n      items(first: 100) {\n        totalCount\n        nodes {\n          id\n          name\n          price\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query MyItems {\n    me {\n      id\n      items(first: 100) {\n        totalCount\n        nodes {\n          id\n          name\n          price\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Stores {\n    stores(first: 50) {\n      totalCount\n      nodes {\n        id\n        name\n      }\n    }\n  }\n"): (typeof documents)["\n  query Stores {\n    stores(first: 50) {\n      totalCount\n      nodes {\n        id\n        name\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query MySessions {\n    mySessions {\n      id\n      createdAt\n      lastUsedAt\n      userAgent\n      ipAddress\n      current\n    }\n  }\n"): (typeof documents)["\n  query MySessions {\n    mySessions {\n      id\n      createdAt\n      lastUsedAt\n      userAgent\n      ipAddress\n      current\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RevokeSession($id: ID!) {\n    revokeSession(id: $id)\n  }\n"): (typeof documents)["\n  mutation RevokeSession($id: ID!) {\n    revokeSession(id: $id)\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ChangePassword($input: ChangePasswordInput!) {\n    changePassword(input: $input) {\n      ...AuthFields\n    }\n  }\n"): (typeof documents)["\n  mutation ChangePassword($input: ChangePasswordInput!) {\n    changePassword(input: $input) {\n      ...AuthFields\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RequestPasswordReset($email: String!) {\n    requestPasswordReset(email: $email)\n  }\n"): (typeof documents)["\n  mutation RequestPasswordReset($email: String!) {\n    requestPasswordReset(email: $email)\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ResetPassword($token: String!, $newPassword: String!) {\n    resetPassword(token: $token, newPassword: $newPassword)\n  }\n"): (typeof documents)["\n  mutation ResetPassword($token: String!, $newPassword: String!) {\n    resetPassword(token: $token, newPassword: $newPassword)\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation VerifyEmail($token: String!) {\n    verifyEmail(token: $token)\n  }\n"): (typeof documents)["\n  mutation VerifyEmail($token: String!) {\n    verifyEmail(token: $token)\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RequestEmailVerification {\n    requestEmailVerification\n  }\n"): (typeof documents)["\n  mutation RequestEmailVerification {\n    requestEmailVerification\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ChangeEmail($newEmail: String!) {\n    changeEmail(newEmail: $newEmail)\n  }\n"): (typeof documents)["\n  mutation ChangeEmail($newEmail: String!) {\n    changeEmail(newEmail: $newEmail)\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation EnrollTotp {\n    enrollTotp {\n      secret\n      uri\n      qrSvg\n    }\n  }\n"): (typeof documents)["\n  mutation EnrollTotp {\n    enrollTotp {\n      secret\n      uri\n      qrSvg\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConfirmTotp($code: String!) {\n    confirmTotp(code: $code) {\n      recoveryCodes\n      tokens {\n        ...AuthFields\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation ConfirmTotp($code: String!) {\n    confirmTotp(code: $code) {\n      recoveryCodes\n      tokens {\n        ...AuthFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation VerifyMfa($code: String!) {\n    verifyMfa(code: $code) {\n      ...AuthFields\n    }\n  }\n"): (typeof documents)["\n  mutation VerifyMfa($code: String!) {\n    verifyMfa(code: $code) {\n      ...AuthFields\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DisableTotp($code: String!) {\n    disableTotp(code: $code)\n  }\n"): (typeof documents)["\n  mutation DisableTotp($code: String!) {\n    disableTotp(code: $code)\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query UsersCount {\n    users(first: 1) {\n      totalCount\n    }\n  }\n"): (typeof documents)["\n  query UsersCount {\n    users(first: 1) {\n      totalCount\n    }\n  }\n"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;