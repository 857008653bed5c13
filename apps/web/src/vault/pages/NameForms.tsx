/**
 * Your name (a profile only you can sign) and the family's name (admins), both encrypted so that
 * only the family's members read them.
 */
import { useState } from "react";
import { MAX_NAME_LENGTH, setFamilyName, updateMyProfile } from "../../lib/names.ts";
import { describeError } from "../../errorMessages.ts";
import { useVault } from "../context.ts";

interface Props {
  current: string | undefined;
  onSaved: () => void;
}

export function MyNameForm({ current, onSaved }: Props) {
  const { vault } = useVault();
  return (
    <NameForm
      id="my-name"
      label="Your name"
      hint="How the family sees you. Only you can change it."
      current={current}
      // A new name keeps the profile photo.
      save={(name) => updateMyProfile(vault, { name })}
      onSaved={onSaved}
    />
  );
}

export function FamilyNameForm({ current, onSaved }: Props) {
  const { vault } = useVault();
  return (
    <NameForm
      id="family-name"
      label="The family's name"
      hint="Shown to every member. Admins can change it."
      current={current}
      save={(name) => setFamilyName(vault, name)}
      onSaved={onSaved}
    />
  );
}

function NameForm({
  id,
  label,
  hint,
  current,
  save,
  onSaved,
}: Props & { id: string; label: string; hint: string; save: (name: string) => Promise<void> }) {
  // What is typed, until saved; the saved name otherwise.
  const [draft, setDraft] = useState<string>();
  const value = draft ?? current ?? "";
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [saved, setSaved] = useState(false);

  return (
    <form
      className="name-form"
      data-testid={`${id}-form`}
      onSubmit={(event) => {
        event.preventDefault();
        setBusy(true);
        setError(undefined);
        setSaved(false);
        save(value).then(
          () => {
            setBusy(false);
            setSaved(true);
            setDraft(undefined);
            onSaved();
          },
          (caught: unknown) => {
            setBusy(false);
            setError(describeError(caught, "member"));
          },
        );
      }}
    >
      <label htmlFor={id}>{label}</label>
      <div className="inline-field">
        <input
          id={id}
          data-testid={`${id}-input`}
          value={value}
          maxLength={MAX_NAME_LENGTH}
          autoComplete="off"
          aria-describedby={`${id}-hint`}
          onChange={(event) => {
            setDraft(event.target.value);
            setSaved(false);
          }}
        />
        <button
          type="submit"
          data-testid={`${id}-save`}
          disabled={busy || value.trim() === "" || value.trim() === (current ?? "")}
        >
          {busy ? "Saving…" : "Save"}
        </button>
      </div>
      <p id={`${id}-hint`} className="muted small-print">
        {saved ? "Saved." : hint}
      </p>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
