/** The list of sub-commands, in the order `egress --help` shows them. */
import type { Command } from '../command.js';

export const commands: readonly Command[] = [];
