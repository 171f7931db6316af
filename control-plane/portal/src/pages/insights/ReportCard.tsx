import { useMemo, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { useMutation } from "@tanstack/react-query";
import { useAnalyticsApi } from "../../api/analytics";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { TextField } from "../../components/Field";
import { Modal } from "../../components/Modal";
import { applyStyles, splitStyles } from "../billing/invoiceDocument";
import { saveBlob } from "../billing/shared";
import { currentMonth } from "../analytics/period";
import { analyticsErrorMessage } from "../analytics/QueryState";

const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;

/**
 * The business report of a month: as CSV (downloaded), or printable HTML
 * (shown in a sandboxed frame, to print or save). Both need the bearer
 * token, so they are fetched with the API client rather than linked.
 */
export function ReportCard({ tz }: { tz: string }) {
  const { t } = useTranslation();
  const api = useAnalyticsApi();
  const [month, setMonth] = useState(() => currentMonth(tz));
  const [html, setHtml] = useState<string | null>(null);
  const valid = MONTH.test(month);
  const csv = useMutation({
    mutationFn: async () => saveBlob(await api.reportCsv(month), `aihub-report-${month}.csv`),
  });
  const printable = useMutation({
    mutationFn: () => api.reportHtml(month),
    onSuccess: (text) => setHtml(text),
  });
  const error = csv.error ?? printable.error;
  return (
    <section className="card" aria-labelledby="insights-report-title">
      <h2 id="insights-report-title" className="card-title">
        {t("insights.report.title")}
      </h2>
      <p className="muted small">{t("insights.report.body")}</p>
      <div className="insights-report">
        <TextField
          label={t("insights.report.month")}
          type="month"
          value={month}
          onChange={(e) => setMonth(e.target.value)}
          problem={valid ? undefined : { key: "validation.required" }}
        />
        <div className="insights-report-actions">
          <Button variant="secondary" onClick={() => csv.mutate()} loading={csv.isPending} disabled={!valid}>
            {t("insights.report.csv")}
          </Button>
          <Button variant="secondary" onClick={() => printable.mutate()} loading={printable.isPending} disabled={!valid}>
            {t("insights.report.html")}
          </Button>
        </div>
      </div>
      {(csv.isError || printable.isError) && <Alert tone="error">{analyticsErrorMessage(t, error)}</Alert>}
      {html !== null && (
        <ReportDialog html={html} month={month} onClose={() => setHtml(null)} />
      )}
    </section>
  );
}

/** The printable report in a sandboxed frame (no scripts; styles applied through the CSSOM, as invoices are). */
function ReportDialog({ html, month, onClose }: { html: string; month: string; onClose: () => void }) {
  const { t } = useTranslation();
  const frame = useRef<HTMLIFrameElement>(null);
  const split = useMemo(() => splitStyles(html), [html]);
  return (
    <Modal
      title={t("insights.report.dialogTitle", { month })}
      onClose={onClose}
      size="lg"
      footer={
        <>
          <Button
            variant="secondary"
            onClick={() => saveBlob(new Blob([html], { type: "text/html;charset=utf-8" }), `aihub-report-${month}.html`)}
          >
            {t("insights.report.download")}
          </Button>
          <Button onClick={() => frame.current?.contentWindow?.print()} data-autofocus>
            {t("insights.report.print")}
          </Button>
        </>
      }
    >
      <iframe
        ref={frame}
        className="invoice-frame"
        title={t("insights.report.preview")}
        sandbox="allow-same-origin allow-modals"
        srcDoc={split.html}
        onLoad={(e) => applyStyles(e.currentTarget, split.css)}
      />
    </Modal>
  );
}
