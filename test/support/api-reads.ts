/** A server the tests read through its public JSON API (a child process or an in-process one). */
export interface ApiServer {
  readonly baseUrl: string;
}

/** GET `path` as JSON; anything but 2xx throws, naming the path and status. */
export async function getJson<T>(server: ApiServer, path: string): Promise<T> {
  const response = await fetch(server.baseUrl + path);
  if (!response.ok) throw new Error(`GET ${path} answered ${response.status}`);
  return (await response.json()) as T;
}

/** The call of a media stream, as `GET /api/calls/:id` answers it (recordings included). */
export async function callByStreamSid<C>(server: ApiServer, streamSid: string): Promise<C> {
  const page = await getJson<{ data: { id: string }[] }>(
    server,
    `/api/calls?streamSid=${encodeURIComponent(streamSid)}`,
  );
  const id = page.data[0]?.id;
  if (id === undefined) throw new Error(`no call for stream ${streamSid}`);
  return getJson<C>(server, `/api/calls/${id}`);
}
