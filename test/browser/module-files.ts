/** Bytes of a file under modules/, as the test pages fetch it from the dev server. */
export async function moduleFile(path: string): Promise<Uint8Array> {
  const response = await fetch(`/modules/${path}`);
  if (!response.ok) throw new Error(`GET /modules/${path}: ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}
