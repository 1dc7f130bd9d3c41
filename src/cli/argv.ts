/**
 * Splits a command line into flag values and positionals, strictly: what `node:util`'s
 * `parseArgs` did for jobdist (long and short flags, `--flag=value`, grouped short switches,
 * repeated flags, `--`), without loading `node:util`, which took about a megabyte of every
 * agent's memory.
 * @module
 */

/** How one flag is written and what it takes. */
export interface ArgSpec {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
}

/** Flag values by name, and the positionals in order. */
export interface SplitArgs {
  values: Record<string, string | boolean | string[] | boolean[]>;
  positionals: string[];
}

/**
 * Splits `argv` by `specs` (flag name to spec). Throws an `Error` naming the argument for an
 * unknown flag, a switch given a value, or a flag whose value is missing or looks like a flag.
 */
export function splitArgv(argv: string[], specs: Record<string, ArgSpec>): SplitArgs {
  const values: SplitArgs["values"] = {};
  const positionals: string[] = [];
  const byShort = new Map(
    Object.entries(specs).filter(([, s]) => s.short).map(([name, s]) => [s.short!, name]),
  );
  const set = (name: string, value: string | boolean) => {
    if (!specs[name].multiple) values[name] = value;
    else ((values[name] ??= []) as Array<string | boolean>).push(value);
  };
  /** The value of string flag `shown` from the next argument. */
  const next = (i: number, shown: string): string => {
    const value = argv[i];
    if (value === undefined) throw new Error(`Option '${shown} <value>' argument missing`);
    if (value.startsWith("-") && value !== "-") {
      throw new Error(
        `Option '${shown} <value>' argument is ambiguous. Did you forget to specify the ` +
          `option argument for '${shown}'? To specify an option argument starting with a dash ` +
          `use '${shown.startsWith("--") ? `${shown}=-XYZ` : `${shown}-XYZ`}'.`,
      );
    }
    return value;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
      if (!spec) throw new Error(`Unknown option '--${name}'`);
      if (spec.type === "boolean") {
        if (eq !== -1) throw new Error(`Option '--${name}' does not take an argument`);
        set(name, true);
      } else {
        set(name, eq === -1 ? next(++i, `--${name}`) : arg.slice(eq + 1));
      }
    } else if (arg.startsWith("-") && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const name = byShort.get(arg[j]);
        if (name === undefined) throw new Error(`Unknown option '-${arg[j]}'`);
        if (specs[name].type === "boolean") {
          set(name, true);
          continue;
        }
        // A string flag takes the rest of the group, or the next argument.
        set(name, j + 1 < arg.length ? arg.slice(j + 1) : next(++i, `-${arg[j]}`));
        break;
      }
    } else {
      positionals.push(arg);
    }
  }
  return { values, positionals };
}
