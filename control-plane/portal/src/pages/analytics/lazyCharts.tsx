/**
 * The charts, loaded when a page first shows one (the chart library is a
 * chunk of its own). Each waits with a placeholder of its size.
 */
import { Suspense, lazy } from "react";
import type { ComponentProps, ComponentType, JSX } from "react";
import type * as Charts from "./charts";

const charts = () => import("./charts");

function deferred<P extends object>(load: () => Promise<ComponentType<P>>, name: string) {
  const Lazy = lazy(async () => ({ default: await load() }));
  function Deferred(props: P) {
    return (
      <Suspense fallback={<div className="chart chart-loading" aria-hidden="true" />}>
        <Lazy {...(props as P & JSX.IntrinsicAttributes)} />
      </Suspense>
    );
  }
  Deferred.displayName = name;
  return Deferred;
}

export const LineSeriesChart = deferred<ComponentProps<typeof Charts.LineSeriesChart>>(
  async () => (await charts()).LineSeriesChart,
  "LineSeriesChart",
);
export const HorizontalBarChart = deferred<ComponentProps<typeof Charts.HorizontalBarChart>>(
  async () => (await charts()).HorizontalBarChart,
  "HorizontalBarChart",
);
export const StackedBarChart = deferred<ComponentProps<typeof Charts.StackedBarChart>>(
  async () => (await charts()).StackedBarChart,
  "StackedBarChart",
);
export const DonutChart = deferred<ComponentProps<typeof Charts.DonutChart>>(
  async () => (await charts()).DonutChart,
  "DonutChart",
);
