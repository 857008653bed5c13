import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App.tsx";
import { openInWorker } from "./openWorker.ts";
import "./styles.css";

// Photo metas and thumbnails are decrypted off the page's thread.
openInWorker();

const root = document.getElementById("root");
if (!root) throw new Error("index.html has no #root element");

createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
