/**
 * Antrea's own tests as our conformance suite (issue 17 item 5): every case names the Antrea file and test it
 * comes from and runs through the public CLI. Deliberate differences and features not done are cases too, marked
 * as such. After the suite: `N/M Antrea cases hold`, on stdout and in tmp/conformance-summary.txt.
 */
import { afterAll } from 'vitest';
import { cleanup, writeSummary } from './harness.js';
import { agentCases } from './agent.js';
import { controllerCases } from './controller.js';
import { e2eCases } from './e2e.js';
import { webhookCases } from './webhooks.js';

webhookCases();
controllerCases();
agentCases();
e2eCases();

afterAll(() => {
  writeSummary();
  cleanup();
});
