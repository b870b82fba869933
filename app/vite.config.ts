// The web app (`npm run dev`, `npm run build`): a static single page.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({
  plugins: [react()],
  server: { host: "127.0.0.1", port: 5173, strictPort: true },
  preview: { host: "127.0.0.1", port: 4173 },
  build: { outDir: "dist", sourcemap: true, chunkSizeWarningLimit: 2048 },
});
