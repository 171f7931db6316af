/**
 * The charts of the Analytics and Insights pages (Recharts). This module is
 * loaded on demand (`lazyCharts.tsx`), so the rest of the portal does not
 * carry the chart library. Every chart fills its container's width and has a
 * fixed height; the figures are also in tables next to it.
 */
import {
  Bar,
  BarChart,
  CartesianGrid,
  Cell,
  Legend,
  Line,
  LineChart,
  Pie,
  PieChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from "recharts";
import { SERIES_COLORS } from "./shared";

export interface ChartSeries {
  /** The property of each datum that holds this series' value. */
  key: string;
  name: string;
  color?: string;
}

type Datum = Record<string, string | number>;

const AXIS_TICK = { fontSize: 11, fill: "#667085" };
const TOOLTIP_STYLE = { fontSize: 12, borderRadius: 8, borderColor: "#e4e7ec" };

const color = (series: ChartSeries, i: number) => series.color ?? SERIES_COLORS[i % SERIES_COLORS.length]!;

/** Lines over time: one per series, x = `xKey` (a label). */
export function LineSeriesChart({
  data,
  xKey,
  series,
  format,
  label,
  height = 280,
  integer = false,
}: {
  data: Datum[];
  xKey: string;
  series: ChartSeries[];
  format: (value: number) => string;
  label: string;
  height?: number;
  /** Counts: no ticks between whole numbers. */
  integer?: boolean;
}) {
  return (
    <div className="chart" role="img" aria-label={label}>
      <ResponsiveContainer width="100%" height={height} minWidth={0}>
        <LineChart data={data} margin={{ top: 8, right: 12, bottom: 0, left: 0 }}>
          <CartesianGrid stroke="#eef0f3" vertical={false} />
          <XAxis dataKey={xKey} tick={AXIS_TICK} tickLine={false} axisLine={false} minTickGap={16} />
          <YAxis
            tick={AXIS_TICK}
            tickLine={false}
            axisLine={false}
            width={64}
            tickFormatter={(v: number) => format(v)}
            allowDecimals={!integer}
          />
          <Tooltip formatter={(v) => format(Number(v))} contentStyle={TOOLTIP_STYLE} />
          {series.length > 1 && <Legend wrapperStyle={{ fontSize: 12 }} />}
          {series.map((s, i) => (
            <Line
              key={s.key}
              type="monotone"
              dataKey={s.key}
              name={s.name}
              stroke={color(s, i)}
              strokeWidth={2}
              dot={data.length <= 1}
              isAnimationActive={false}
            />
          ))}
        </LineChart>
      </ResponsiveContainer>
    </div>
  );
}

/** Horizontal bars, one per row (largest first as given). */
export function HorizontalBarChart({
  rows,
  format,
  label,
}: {
  rows: { name: string; value: number }[];
  format: (value: number) => string;
  label: string;
}) {
  const height = Math.max(120, rows.length * 36 + 40);
  return (
    <div className="chart" role="img" aria-label={label}>
      <ResponsiveContainer width="100%" height={height} minWidth={0}>
        <BarChart data={rows} layout="vertical" margin={{ top: 4, right: 16, bottom: 4, left: 4 }}>
          <CartesianGrid stroke="#eef0f3" horizontal={false} />
          <XAxis type="number" tick={AXIS_TICK} tickLine={false} axisLine={false} tickFormatter={(v: number) => format(v)} />
          <YAxis type="category" dataKey="name" tick={AXIS_TICK} tickLine={false} axisLine={false} width={110} />
          <Tooltip formatter={(v) => format(Number(v))} contentStyle={TOOLTIP_STYLE} cursor={{ fill: "#f4f5f7" }} />
          <Bar dataKey="value" fill={SERIES_COLORS[0]} radius={[0, 4, 4, 0]} isAnimationActive={false} />
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
}

/** Stacked vertical bars per category (e.g. usage and subscription revenue per day). */
export function StackedBarChart({
  data,
  xKey,
  series,
  format,
  label,
  height = 260,
}: {
  data: Datum[];
  xKey: string;
  series: ChartSeries[];
  format: (value: number) => string;
  label: string;
  height?: number;
}) {
  return (
    <div className="chart" role="img" aria-label={label}>
      <ResponsiveContainer width="100%" height={height} minWidth={0}>
        <BarChart data={data} margin={{ top: 8, right: 12, bottom: 0, left: 0 }}>
          <CartesianGrid stroke="#eef0f3" vertical={false} />
          <XAxis dataKey={xKey} tick={AXIS_TICK} tickLine={false} axisLine={false} minTickGap={12} />
          <YAxis tick={AXIS_TICK} tickLine={false} axisLine={false} width={64} tickFormatter={(v: number) => format(v)} />
          <Tooltip formatter={(v) => format(Number(v))} contentStyle={TOOLTIP_STYLE} cursor={{ fill: "#f4f5f7" }} />
          <Legend wrapperStyle={{ fontSize: 12 }} />
          {series.map((s, i) => (
            <Bar key={s.key} dataKey={s.key} name={s.name} stackId="stack" fill={color(s, i)} isAnimationActive={false} />
          ))}
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
}

/** Shares of a whole as a ring. */
export function DonutChart({
  rows,
  format,
  label,
}: {
  rows: { name: string; value: number }[];
  format: (value: number) => string;
  label: string;
}) {
  return (
    <div className="chart chart-donut" role="img" aria-label={label}>
      <ResponsiveContainer width="100%" height={220} minWidth={0}>
        <PieChart>
          <Pie
            data={rows}
            dataKey="value"
            nameKey="name"
            innerRadius="55%"
            outerRadius="85%"
            paddingAngle={rows.length > 1 ? 2 : 0}
            isAnimationActive={false}
          >
            {rows.map((row, i) => (
              <Cell key={row.name} fill={SERIES_COLORS[i % SERIES_COLORS.length]} />
            ))}
          </Pie>
          <Tooltip formatter={(v) => format(Number(v))} contentStyle={TOOLTIP_STYLE} />
          <Legend wrapperStyle={{ fontSize: 12 }} />
        </PieChart>
      </ResponsiveContainer>
    </div>
  );
}
