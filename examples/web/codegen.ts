import type { CodegenConfig } from '@graphql-codegen/cli';

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
      presetConfig: { fragmentMasking: false },
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
