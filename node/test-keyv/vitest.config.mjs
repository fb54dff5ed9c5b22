import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test-keyv/**/*.test.mjs'],
    // One store directory per file; the suites' tests share it in order.
    fileParallelism: false,
    testTimeout: 20000,
  },
})
