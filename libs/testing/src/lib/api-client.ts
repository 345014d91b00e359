/**
 * A gateway's REST API over HTTP for tests that run it as its own process (or beside other processes):
 * JSON in and out, the bearer key per call. `apiCall` answers every status; `apiOk` throws on >= 300
 * with the status and body in the message, and answers the parsed body.
 */
export interface ApiAnswer {
  status: number;
  body: any;
}

export interface ApiCallOptions {
  body?: object;
  key: string;
  headers?: Record<string, string>;
}

export async function apiCall(baseUrl: string, method: string, path: string, options: ApiCallOptions): Promise<ApiAnswer> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { Authorization: `Bearer ${options.key}`, 'Content-Type': 'application/json', ...(options.headers ?? {}) },
    body: options.body ? JSON.stringify(options.body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

export async function apiOk(baseUrl: string, method: string, path: string, options: ApiCallOptions): Promise<any> {
  const answer = await apiCall(baseUrl, method, path, options);
  if (answer.status >= 300) throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}
