import { useSibyl } from "./state.js";

/** The last error, in plain words, until dismissed. */
export function ErrorBanner() {
  const { error, clearError } = useSibyl();
  if (!error) return null;
  return (
    <div className="error" role="alert" data-testid="error">
      <strong>{error.title}</strong>
      {error.detail && <p>{error.detail}</p>}
      <button type="button" onClick={clearError} aria-label="Dismiss">
        ×
      </button>
    </div>
  );
}
