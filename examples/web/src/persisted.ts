// Trusted documents (docs/api.md "Trusted documents"). `npm run codegen` writes every
// operation of this app to src/gql/persisted-documents.json ({"sha256:<hex>": text}, the
// manifest authql loads with PERSISTED_DOCUMENTS_FILES) and puts each document's hash on
// the document itself (`__meta__.hash`). The production build sends the hash alone — in
// the APQ shape, `extensions.persistedQuery.sha256Hash`, which Apollo's HttpLink already
// knows how to send — so a server at PERSISTED_DOCUMENTS=require runs this app and
// nothing else. The development server (`npm run dev`) sends the text, so an operation
// edited a moment ago runs before codegen has written its hash into the manifest.
import type { DocumentNode } from 'graphql';

/** Send ids instead of texts: the production build. */
export const SEND_IDS = import.meta.env.PROD;

/** The bare hex SHA-256 codegen computed for `document`, when ids are sent. */
export function persistedHash(document: DocumentNode): string | undefined {
  if (!SEND_IDS) return undefined;
  const hash = (document as { __meta__?: { hash?: string } }).__meta__?.hash;
  return hash?.replace(/^sha256:/, '');
}

/** The `extensions` that name a trusted document. */
export function persistedQuery(hash: string) {
  return { persistedQuery: { version: 1, sha256Hash: hash } };
}
