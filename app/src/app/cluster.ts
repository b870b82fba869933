// Which cluster the app talks to: the localnet by default, devnet on
// request, or any endpoint named in the page's address (`?rpc=…&ws=…`,
// which is how the browser tests point the app at their own localnet).

export interface Cluster {
  id: "localnet" | "devnet" | "custom";
  label: string;
  rpc: string;
  ws: string;
}

export const LOCALNET: Cluster = {
  id: "localnet",
  label: "Localnet",
  rpc: "http://127.0.0.1:8899",
  ws: "ws://127.0.0.1:8900",
};

export const DEVNET: Cluster = {
  id: "devnet",
  label: "Devnet",
  rpc: "https://api.devnet.solana.com",
  ws: "wss://api.devnet.solana.com",
};

/** The cluster the page's query string names; localnet when it names none. */
export function clusterFromQuery(search: string): Cluster {
  const params = new URLSearchParams(search);
  const rpc = params.get("rpc");
  if (rpc) {
    const ws = params.get("ws") ?? wsFor(rpc);
    return { id: "custom", label: `Custom (${new URL(rpc).host})`, rpc, ws };
  }
  return params.get("cluster") === "devnet" ? DEVNET : LOCALNET;
}

/** The query string that selects `cluster` (the inverse of `clusterFromQuery`). */
export function queryFor(cluster: Cluster): string {
  if (cluster.id === "custom") return `?rpc=${encodeURIComponent(cluster.rpc)}&ws=${encodeURIComponent(cluster.ws)}`;
  return cluster.id === "devnet" ? "?cluster=devnet" : "";
}

/** Solana's convention: PubSub listens on the RPC port + 1, same host, ws(s)://. */
export function wsFor(rpc: string): string {
  const url = new URL(rpc);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  if (url.port) url.port = String(Number(url.port) + 1);
  return url.toString().replace(/\/$/, "");
}
