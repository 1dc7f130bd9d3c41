import assert from "node:assert/strict";
import { completionScript } from "../../src/cli/completions.ts";
import { COMMANDS } from "../../src/cli/mod.ts";

const hasShell = (name: string) => {
  try {
    return new Deno.Command("sh", { args: ["-c", `command -v ${name}`] }).outputSync().success;
  } catch {
    return false;
  }
};

/** Runs bash completion for the words typed so far; returns the candidates. */
async function bashComplete(script: string, words: string[]): Promise<string[]> {
  const file = await Deno.makeTempFile({ suffix: ".bash" });
  try {
    await Deno.writeTextFile(file, script);
    const quoted = words.map((w) => `'${w}'`).join(" ");
    const out = await new Deno.Command("bash", {
      args: [
        "-c",
        `source '${file}'; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _jobdist; ` +
        `printf '%s\\n' "\${COMPREPLY[@]}"`,
      ],
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    return new TextDecoder().decode(out.stdout).split("\n").filter(Boolean);
  } finally {
    await Deno.remove(file);
  }
}

Deno.test("completions: every command and every declared flag appears in each shell's script", () => {
  for (const shell of ["bash", "zsh", "fish"]) {
    const script = completionScript(shell, COMMANDS);
    for (const cmd of COMMANDS) {
      assert.ok(script.includes(cmd.name), `${shell}: ${cmd.name}`);
      for (const f of cmd.flags) {
        const needle = shell === "fish" ? `-l ${f.name}` : `--${f.name}`;
        assert.ok(script.includes(needle), `${shell}: ${cmd.name} ${needle}`);
      }
    }
  }
  assert.throws(() => completionScript("tcsh", COMMANDS), /Unknown shell "tcsh"/);
});

Deno.test({
  name: "completions bash: completes commands, flags from the declarations and agents actions",
  ignore: !hasShell("bash"),
  async fn() {
    const script = completionScript("bash", COMMANDS);
    assert.deepEqual(await bashComplete(script, ["jobdist", "ag"]), ["agent", "agents"]);
    assert.deepEqual(await bashComplete(script, ["jobdist", "agent", "--idle"]), ["--idle-exit"]);
    assert.deepEqual(await bashComplete(script, ["jobdist", "server", "--ret"]), ["--retention"]);
    assert.deepEqual(await bashComplete(script, ["jobdist", "agents", "up"]), ["uptime"]);
    assert.deepEqual(await bashComplete(script, ["jobdist", "completions", "f"]), ["fish"]);
  },
});

for (const [shell, args] of [["zsh", ["-n"]], ["fish", ["--no-execute"]]] as const) {
  Deno.test({
    name: `completions ${shell}: the script parses`,
    ignore: !hasShell(shell),
    async fn() {
      const file = await Deno.makeTempFile();
      try {
        await Deno.writeTextFile(file, completionScript(shell, COMMANDS));
        const out = await new Deno.Command(shell, { args: [...args, file] }).output();
        assert.ok(out.success, new TextDecoder().decode(out.stderr));
      } finally {
        await Deno.remove(file);
      }
    },
  });
}
