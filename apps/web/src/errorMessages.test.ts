import { describe, expect, it } from "vitest";
import { ApiError } from "./lib/api.ts";
import { describeError } from "./errorMessages.ts";
import { UploadError } from "./lib/uploadQueue.ts";
import { VaultError } from "./lib/vault.ts";

const api = (status: number, code: string, message: string, rule?: string) =>
  new ApiError(status, code as ConstructorParameters<typeof ApiError>[1], message, { rule });

describe("enrollment errors in plain words", () => {
  it("say why a token did not work, in the node's words", () => {
    expect(
      describeError(
        api(403, "forbidden", "the enrollment token has expired; issue a new one with `p2pos enroll`"),
        "peer",
      ),
    ).toBe(
      "This token did not work: the enrollment token has expired; issue a new one with `p2pos enroll`. A token works once, for 15 minutes: make a new one on the other node if needed.",
    );
    expect(
      describeError(
        api(403, "forbidden", "the issuing node refused: this enrollment token was already used; issue a new one"),
        "peer",
      ),
    ).toMatch(/^This token did not work: the issuing node refused: this enrollment token was already used/);
  });

  it("tell a damaged token from an unreachable node", () => {
    expect(
      describeError(api(400, "bad_request", "not an enrollment token: it should start with P2POS-ENROLL-"), "peer"),
    ).toBe("That is not a token this node can use: not an enrollment token: it should start with P2POS-ENROLL-.");
    expect(
      describeError(
        api(
          502,
          "bad_gateway",
          "no answer from the issuing node within 30 s (is it running and connected to the hub?)",
        ),
        "peer",
      ),
    ).toBe(
      "The other node could not be reached: no answer from the issuing node within 30 s (is it running and connected to the hub?).",
    );
    expect(describeError(api(0, "network", "The node could not be reached."), "peer")).toBe(
      "The node could not be reached. Is it running?",
    );
  });

  it("explain a node that cannot enrol, or a family clash", () => {
    expect(
      describeError(
        api(409, "conflict", "this node has no hub configured (`--hub`), so it cannot enrol peers"),
        "enroll",
      ),
    ).toBe("This node has no hub configured (`--hub`), so it cannot enrol peers.");
    expect(
      describeError(api(409, "conflict", "this node belongs to another family (F1); a node serves one family"), "peer"),
    ).toBe("That token cannot be used here: this node belongs to another family (F1); a node serves one family.");
    expect(describeError(api(404, "not_found", "no such peer"), "peer")).toBe(
      "That node is not enrolled here (any more).",
    );
  });
});

describe("the vault's trust rules in plain words", () => {
  it("tell someone who is not a member what to do", () => {
    expect(describeError(api(403, "not_a_member", "not a member of this family"))).toMatch(
      /not a member of the family on this node.*Give an admin your id/,
    );
  });

  it("say which rule refused a record, and how to rotate a key", () => {
    expect(describeError(api(403, "record_refused", "only an admin may grant album keys"), "member")).toBe(
      "The family's rules do not allow this: only an admin may grant album keys.",
    );
    expect(
      describeError(
        api(
          403,
          "record_refused",
          "the album key must be rotated (a new epoch) after a member lost access",
          "key_not_rotated",
        ),
        "upload",
      ),
    ).toMatch(/must be rotated.*an admin who holds the key opens the album and chooses “Change the album key”/);
  });

  it("say why an upload waited for the album's new key and then stopped", () => {
    const gaveUp = new UploadError("no_current_key", "The album has a new key that was not shared with you.");
    expect(describeError(gaveUp, "upload")).toBe("The album has a new key that was not shared with you.");
    const noKey = new VaultError("no_current_key", "You hold no key for this album's current epoch.");
    expect(describeError(noKey, "upload")).toBe("You hold no key for this album's current epoch.");
  });

  it("point at the device's clock", () => {
    expect(describeError(api(400, "clock_ahead", "the record is 120000 ms ahead"))).toMatch(
      /clock is more than a minute ahead of the node's/,
    );
    expect(describeError(api(400, "clock_behind", "the record is 11 minutes behind"))).toMatch(
      /clock is more than 10 minutes behind the node's.*Check the device's date, time and time zone/,
    );
  });
});
