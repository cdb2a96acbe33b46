/** The list of sub-commands, in the order `egress --help` shows them. */
import type { Command } from '../command.js';
import { apply } from './apply.js';
import { init } from './init.js';
import { del } from './delete.js';
import { get } from './get.js';
import { replayCommand } from './replay.js';
import { agentCommand } from './agent.js';
import { testbedCommand } from './testbed.js';
import { demoCommand } from './demo.js';

export const commands: readonly Command[] = [
  demoCommand,
  init,
  apply,
  del,
  get,
  replayCommand,
  agentCommand,
  testbedCommand,
];
