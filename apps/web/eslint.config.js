// ESLint flat config: type-aware typescript-eslint for the app, the library and the harness;
// plain recommended rules for the Node-side e2e tests.
import js from "@eslint/js";
import reactHooks from "eslint-plugin-react-hooks";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  // apiSchema.ts is generated from docs/openapi.json (npm run gen:api).
  { ignores: ["dist", "dist-harness", "node_modules", "src/lib/apiSchema.ts"] },
  {
    files: ["**/*.{ts,tsx}"],
    extends: [js.configs.recommended, ...tseslint.configs.strictTypeChecked, ...tseslint.configs.stylisticTypeChecked],
    languageOptions: {
      globals: globals.browser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { "react-hooks": reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true }],
      "@typescript-eslint/no-confusing-void-expression": ["error", { ignoreArrowShorthand: true }],
    },
  },
  {
    files: ["**/*.{js,mjs}"],
    extends: [js.configs.recommended],
    languageOptions: { globals: { ...globals.node }, sourceType: "module" },
  },
  {
    files: ["public/share-sw.js"],
    languageOptions: { globals: { ...globals.serviceworker }, sourceType: "script" },
  },
  {
    files: ["e2e/**/*.mjs"],
    // Functions passed to page.evaluate run in the browser.
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
);
