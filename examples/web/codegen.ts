import type { CodegenConfig } from '@graphql-codegen/cli';
import { addTypenameSelectionDocumentTransform } from '@graphql-codegen/client-preset';

// Typed operations from the repository's SDL (schema.graphql, byte-equal to
// `authql schema`). `npm run codegen` writes src/gql/ (committed);
// `npm run codegen:check` writes to a temporary folder (CODEGEN_OUT) and fails on a diff.
const out = process.env.CODEGEN_OUT ?? './src/gql/';

const config: CodegenConfig = {
  schema: '../../schema.graphql',
  documents: ['src/**/*.{ts,tsx}', '!src/gql/**/*'],
  ignoreNoDocuments: false,
  generates: {
    [out]: {
      preset: 'client',
      presetConfig: {
        fragmentMasking: false,
        // src/gql/persisted-documents.json: every operation as {sha256: text}, the
        // manifest authql loads (PERSISTED_DOCUMENTS_FILES); each document carries its
        // hash in `__meta__.hash`, and the production build sends the hash alone.
        persistedDocuments: { hashAlgorithm: 'sha256' },
      },
      // The texts as Apollo Client sends them, with `__typename` in every selection set
      // (its cache needs them), so a document run by its id answers what the cache expects.
      documentTransforms: [addTypenameSelectionDocumentTransform],
      config: {
        scalars: { DateTime: 'string', Decimal: 'string' },
        enumsAsTypes: true,
        useTypeImports: true,
        defaultScalarType: 'unknown',
        avoidOptionals: { field: true, inputValue: false },
        skipTypeNameForRoot: true,
        // Types only: a reworded description in schema.graphql does not make src/gql/ stale.
        disableDescriptions: true,
      },
    },
  },
};

export default config;
