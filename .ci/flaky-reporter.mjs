// A vitest reporter for .ci/run: writes the name of every test that passed only on a retry to the file named by
// $CI_FLAKY_OUT, one per line, so the end of the CI log says which tests are unstable instead of hiding them.
import { appendFileSync } from 'node:fs';
import { relative } from 'node:path';

export default class FlakyReporter {
  onTestCaseResult(testCase) {
    const d = testCase.diagnostic();
    if (!d?.flaky || !process.env.CI_FLAKY_OUT) return;
    const file = relative(process.cwd(), testCase.module.moduleId);
    appendFileSync(process.env.CI_FLAKY_OUT, `[node ${process.version}] ${file} > ${testCase.fullName} (passed on retry ${d.retryCount})\n`);
  }
}
