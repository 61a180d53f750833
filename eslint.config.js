// @ts-check
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', '**/build/**', '.meridian/**', 'native/build/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      // Another package is imported by name through its exports, never by a relative path into its folder
      // (the floor order itself is checked by dependency-cruiser, `npm run lint:floors`).
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+(protocol|native|workflows|slurm-bridge|hub|edge-agent|test)/(src|bin|bench|test|scripts)(/|$)',
              message: 'import another package by its name (@meridian/<package>/<path>) through its exports, not by a relative path',
            },
          ],
        },
      ],
    },
  },
);
