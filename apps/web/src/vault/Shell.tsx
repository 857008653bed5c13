/** The signed-in vault: navigation and the page for the current route. */
import { useEffect } from "react";
import { Avatar } from "../components/Avatar.tsx";
import { IdentityView } from "../components/IdentityView.tsx";
import { registerShareTarget } from "../lib/sharedFiles.ts";
import { useVault } from "./context.ts";
import { href, useRoute, type Route } from "./router.ts";
import { SharePage } from "./pages/SharePage.tsx";
import { AlbumPage } from "./pages/AlbumPage.tsx";
import { AlbumsPage } from "./pages/AlbumsPage.tsx";
import { Dashboard } from "./pages/Dashboard.tsx";
import { MembersPage } from "./pages/MembersPage.tsx";
import { NodesPage } from "./pages/NodesPage.tsx";
import { SettingsPage } from "./pages/SettingsPage.tsx";
import { TimelinePage } from "./pages/TimelinePage.tsx";
import { TrashPage } from "./pages/TrashPage.tsx";
import { useNames } from "./names.ts";

const NAV: { page: Route["page"]; label: string; route: Route }[] = [
  { page: "dashboard", label: "Home", route: { page: "dashboard" } },
  { page: "photos", label: "Photos", route: { page: "photos" } },
  { page: "albums", label: "Albums", route: { page: "albums" } },
  { page: "members", label: "Members", route: { page: "members" } },
  { page: "trash", label: "Trash", route: { page: "trash" } },
  { page: "nodes", label: "Nodes", route: { page: "nodes" } },
  { page: "identity", label: "Identity", route: { page: "identity" } },
  { page: "settings", label: "Settings", route: { page: "settings" } },
];

export function Shell() {
  const route = useRoute();
  const { me, identity, forget, vault } = useVault();
  // The name the family knows us by (our signed profile), read again on each page change.
  const names = useNames(vault, route);
  // The share target's worker, for the installed app; only the vault has one (Drop, Gallery and
  // Chat keep no service worker).
  useEffect(registerShareTarget, []);
  const ownName = names?.members.get(identity.id)?.name ?? identity.name;
  const ownAvatar = names?.members.get(identity.id)?.avatar;
  const active =
    route.page === "album" || route.page === "photo"
      ? "albums"
      : route.page === "timeline-photo"
        ? "photos"
        : route.page;
  return (
    <div className="shell" data-testid="vault-shell">
      <nav className="nav" aria-label="Vault">
        {NAV.map((item) => (
          <a
            key={item.page}
            href={href(item.route)}
            data-testid={`nav-${item.page}`}
            aria-current={active === item.page ? "page" : undefined}
          >
            {item.label}
          </a>
        ))}
        <span className="role-badge with-avatar" data-testid="role-badge">
          <Avatar
            id={identity.id}
            name={ownName ?? "You"}
            avatar={ownAvatar}
            size={28}
            decorative
            testId="own-avatar"
          />
          {ownName ?? "You"} · {me.role}
        </span>
      </nav>
      {renderRoute(route, forget)}
    </div>
  );
}

function renderRoute(route: Route, forget: () => void) {
  switch (route.page) {
    case "dashboard":
      return <Dashboard />;
    // The viewer opens over the timeline (same element: the grid, its scroll and search stay).
    case "photos":
      return <TimelinePage />;
    case "timeline-photo":
      return <TimelinePage photoId={route.photo} />;
    case "albums":
      return <AlbumsPage />;
    // The viewer opens over its album (same element, so the grid and its uploads stay as they were).
    case "album":
      return <AlbumPage key={route.album} albumId={route.album} />;
    case "photo":
      return <AlbumPage key={route.album} albumId={route.album} photoId={route.photo} />;
    case "members":
      return <MembersPage />;
    case "nodes":
      return <NodesPage />;
    case "settings":
      return <SettingsPage />;
    case "trash":
      return <TrashPage />;
    case "identity":
      return <IdentityPage forget={forget} />;
    case "share":
      return <SharePage />;
    case "missing":
      return (
        <section className="card notice" role="alert">
          <h1>Nothing here</h1>
          <p>
            There is no page at <code>{route.path}</code>. <a href="#/">Go home</a>.
          </p>
        </section>
      );
  }
}

function IdentityPage({ forget }: { forget: () => void }) {
  const { identity } = useVault();
  return <IdentityView identity={identity} onForgotten={forget} />;
}
