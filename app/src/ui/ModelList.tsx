import { formatUnits, shortKey } from "../app/amounts.js";
import { ruleText } from "../app/chain.js";
import { useSibyl } from "./state.js";

/** Every registered model: price, comparison rule, challenge window, requests. */
export function ModelList({ selected, onSelect }: { selected: string | null; onSelect: (address: string) => void }) {
  const { models, protocol } = useSibyl();
  if (!protocol) return null;
  return (
    <section>
      <h2>Models</h2>
      <table className="models" data-testid="models">
        <thead>
          <tr>
            <th>Model</th>
            <th>Price</th>
            <th>Results compared by</th>
            <th>Challenge window</th>
            <th>Requests</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {models.length === 0 && (
            <tr>
              <td colSpan={6}>No model is registered yet.</td>
            </tr>
          )}
          {models.map((m) => {
            const address = m.address.toBase58();
            const window = m.account.challengeWindowOverrideSlots ?? protocol.challengeWindowSlots;
            const open = m.open.pending + m.open.committed + m.open.challenged;
            return (
              <tr key={address} data-testid={`model-${m.name}`} className={selected === address ? "selected" : ""}>
                <td>
                  <strong>{m.name}</strong>
                  <br />
                  <small title={address}>{shortKey(address)}</small>
                </td>
                <td>{formatUnits(m.account.price.toString(), protocol.decimals)} tokens</td>
                <td>{ruleText(m.account.comparison)}</td>
                <td>{window.toString()} slots</td>
                <td data-testid="request-counts">
                  {m.account.requestCount.toString()} in all · {open} open
                  {open > 0 && (
                    <small>
                      {" "}
                      ({m.open.pending} pending, {m.open.committed} in window, {m.open.challenged} challenged)
                    </small>
                  )}
                </td>
                <td>
                  {m.account.retired ? (
                    <em>retired</em>
                  ) : (
                    <button type="button" onClick={() => onSelect(address)} disabled={selected === address}>
                      {selected === address ? "Selected" : "Use this model"}
                    </button>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}
