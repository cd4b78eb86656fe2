import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";

/**
 * Full paths of the unfinished (`.part`) recordings under a recordings folder: in each
 * instance's spool folder (`.spool/<instance id>/`, issue 19), and in the folder itself, where
 * versions before it wrote them.
 */
export function partFilePaths(root: string): string[] {
  const spool = join(root, ".spool");
  const folders = [root];
  if (existsSync(spool)) folders.push(...readdirSync(spool).map((id) => join(spool, id)));
  return folders.flatMap((folder) =>
    existsSync(folder)
      ? readdirSync(folder)
          .filter((name) => name.endsWith(".part"))
          .map((name) => join(folder, name))
      : [],
  );
}
