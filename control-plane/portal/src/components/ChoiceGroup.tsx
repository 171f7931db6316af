import { useId } from "react";

/** One option of a {@link ChoiceGroup}. */
export interface Choice<V extends string | number> {
  value: V;
  label: string;
  hint?: string;
}

/**
 * A group of radio buttons drawn as selectable cards (`.choice-group`),
 * used wherever the portal asks for one of a few options.
 */
export function ChoiceGroup<V extends string | number>({
  legend,
  options,
  value,
  onChange,
  name,
  columns,
  autoFocusSelected = false,
}: {
  legend: string;
  options: readonly Choice<V>[];
  value: V;
  onChange: (value: V) => void;
  /** The radios' form name (generated when not given). */
  name?: string;
  /** Lay the cards out in this many columns (`choices-N`). */
  columns?: number;
  /** Let a dialog focus the selected option first. */
  autoFocusSelected?: boolean;
}) {
  const generated = useId();
  const group = name ?? generated;
  return (
    <fieldset className="choice-group">
      <legend className="field-label">{legend}</legend>
      <div className={columns ? `choices choices-${columns}` : "choices"}>
        {options.map((option) => (
          <label
            key={String(option.value)}
            className={`choice${value === option.value ? " choice-selected" : ""}`}
          >
            <input
              type="radio"
              name={group}
              value={option.value}
              checked={value === option.value}
              onChange={() => onChange(option.value)}
              data-autofocus={autoFocusSelected && value === option.value ? true : undefined}
            />
            <span className="choice-label">{option.label}</span>
            {option.hint && <span className="choice-hint">{option.hint}</span>}
          </label>
        ))}
      </div>
    </fieldset>
  );
}
