/** The shape every `egress` sub-command implements. */
export interface Command {
  /** Word after `egress` (`replay`, `apply`, ...). */
  readonly name: string;
  /** One line for `egress --help`. */
  readonly summary: string;
  /** Full text for `egress <name> --help`. */
  readonly usage: string;
  /** Run with the arguments after the command word; resolves to the exit status. */
  run(argv: string[]): Promise<number>;
}

/** A command as the dispatcher lists it: its name and summary, and its module loaded only when it runs. */
export interface CommandEntry {
  readonly name: string;
  readonly summary: string;
  load(): Promise<Command>;
}
