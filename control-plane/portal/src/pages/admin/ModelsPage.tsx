import { useId, useState } from "react";
import { useMutation, useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { useAdminApi } from "../../api/admin";
import type { AdminModel, AdminPlan, Deployment, Prices } from "../../api/admin";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { EditIcon, PlusIcon, TrashIcon } from "../../components/icons";
import { useFormat } from "../billing/shared";
import {
  DeleteDeploymentDialog,
  DeploymentDialog,
  ImportPricesDialog,
  ModelDialog,
  plansQuery,
  useInvalidateModels,
} from "./ModelDialogs";
import { AdminHeader, EnabledPill, LoadState, adminErrorMessage, adminKeys, usePrice } from "./shared";

type Dialog =
  | { kind: "add-model" }
  | { kind: "import-prices" }
  | { kind: "edit-model"; model: AdminModel }
  | { kind: "add-deployment"; model: AdminModel }
  | { kind: "edit-deployment"; model: AdminModel; deployment: Deployment }
  | { kind: "delete-deployment"; model: AdminModel; deployment: Deployment }
  | null;

/**
 * `/admin/models`: the catalog, each model with its prices, the plans it is
 * offered to and its deployments; prices can also be imported from a list.
 */
export function ModelsPage() {
  const { t } = useTranslation();
  const api = useAdminApi();
  const models = useQuery({ queryKey: adminKeys.models, queryFn: () => api.listModels() });
  const plans = useQuery(plansQuery(api));
  const [open, setOpen] = useState<Dialog>(null);
  const close = () => setOpen(null);
  return (
    <div className="page">
      <AdminHeader
        title={t("admin.models.title")}
        subtitle={t("admin.models.subtitle")}
        actions={
          <>
            <Button variant="secondary" onClick={() => setOpen({ kind: "import-prices" })}>
              {t("admin.models.import.open")}
            </Button>
            <Button onClick={() => setOpen({ kind: "add-model" })}>
              <PlusIcon size={16} /> {t("admin.models.add")}
            </Button>
          </>
        }
      />
      <LoadState query={models} />
      {models.data && models.data.length === 0 && (
        <section className="card">
          <p className="muted admin-empty">{t("admin.models.empty")}</p>
        </section>
      )}
      {models.data?.map((model) => (
        <ModelCard key={model.id} model={model} plans={plans.data} open={setOpen} />
      ))}
      {open?.kind === "add-model" && <ModelDialog onClose={close} />}
      {open?.kind === "import-prices" && <ImportPricesDialog onClose={close} />}
      {open?.kind === "edit-model" && <ModelDialog model={open.model} onClose={close} />}
      {open?.kind === "add-deployment" && <DeploymentDialog model={open.model} onClose={close} />}
      {open?.kind === "edit-deployment" && (
        <DeploymentDialog model={open.model} deployment={open.deployment} onClose={close} />
      )}
      {open?.kind === "delete-deployment" && <DeleteDeploymentDialog deployment={open.deployment} onClose={close} />}
    </div>
  );
}

function ModelCard({
  model,
  plans,
  open,
}: {
  model: AdminModel;
  plans: AdminPlan[] | undefined;
  open: (d: Dialog) => void;
}) {
  const { t } = useTranslation();
  const titleId = useId();
  const planNames = model.plans.map((id) => plans?.find((p) => p.id === id)?.name ?? id);
  return (
    <section className="card" aria-labelledby={titleId}>
      <div className="model-card-head">
        <h2 className="model-card-title" id={titleId}>
          {model.name}
        </h2>
        <div className="admin-row-actions">
          <EnabledPill enabled={model.enabled} />
          <Button
            variant="ghost"
            className="btn-sm"
            onClick={() => open({ kind: "edit-model", model })}
            aria-label={t("admin.models.editNamed", { name: model.name })}
          >
            <EditIcon size={16} /> {t("admin.edit")}
          </Button>
          <Button variant="secondary" className="btn-sm" onClick={() => open({ kind: "add-deployment", model })}>
            <PlusIcon size={16} /> {t("admin.models.addDeployment")}
          </Button>
        </div>
      </div>
      <dl className="model-facts">
        <PriceFacts prices={model.prices} />
        <div>
          <dt>{t("admin.models.visibleTo")}</dt>
          <dd data-testid="model-plans">{planNames.length === 0 ? t("admin.models.allPlans") : planNames.join(", ")}</dd>
        </div>
      </dl>
      {model.deployments.length === 0 ? (
        <p className="muted small">{t("admin.models.noDeployments")}</p>
      ) : (
        <div className="table-wrap">
          <table className="table admin-table" aria-label={t("admin.models.deploymentsOf", { name: model.name })}>
            <thead>
              <tr>
                <th scope="col">{t("admin.models.provider")}</th>
                <th scope="col">{t("admin.models.upstreamModel")}</th>
                <th scope="col" className="num">{t("admin.models.weight")}</th>
                <th scope="col" className="num">{t("admin.models.priority")}</th>
                <th scope="col" className="num">{t("admin.models.timeout")}</th>
                <th scope="col">{t("admin.models.upstreamPrices")}</th>
                <th scope="col">{t("admin.providers.state")}</th>
                <th scope="col">
                  <span className="sr-only">{t("admin.actions")}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {model.deployments.map((d) => (
                <DeploymentRow key={d.id} model={model} deployment={d} open={open} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function PriceFacts({ prices }: { prices: Prices }) {
  const { t } = useTranslation();
  const price = usePrice();
  return (
    <>
      <div>
        <dt>{t("admin.models.inputPrice")}</dt>
        <dd>{price(prices.input_per_million)}</dd>
      </div>
      <div>
        <dt>{t("admin.models.outputPrice")}</dt>
        <dd>{price(prices.output_per_million)}</dd>
      </div>
      <div>
        <dt>{t("admin.models.cachedPrice")}</dt>
        <dd>{price(prices.cached_per_million)}</dd>
      </div>
    </>
  );
}

function DeploymentRow({ model, deployment: d, open }: { model: AdminModel; deployment: Deployment; open: (d: Dialog) => void }) {
  const { t } = useTranslation();
  const f = useFormat();
  const api = useAdminApi();
  const invalidate = useInvalidateModels();
  const toggle = useMutation({ mutationFn: () => api.updateDeployment(d.id, { enabled: !d.enabled }), onSuccess: invalidate });
  const p = d.upstream_prices;
  const price = usePrice();
  return (
    <tr className={d.enabled ? undefined : "row-muted"}>
      <td>{d.provider_name}</td>
      <th scope="row">
        <code>{d.upstream_model}</code>
      </th>
      <td className="num">{f.number(d.weight)}</td>
      <td className="num">{f.number(d.priority)}</td>
      <td className="num">{t("admin.models.ms", { ms: f.number(d.timeout_ms) })}</td>
      <td className="small">
        {price(p.input_per_million)} / {price(p.output_per_million)} / {price(p.cached_per_million)}
      </td>
      <td>
        <EnabledPill enabled={d.enabled} />
      </td>
      <td className="wrap">
        <div className="admin-row-actions" role="group" aria-label={t("admin.models.actionsFor", { name: d.upstream_model })}>
          <Button variant="ghost" className="btn-sm" onClick={() => open({ kind: "edit-deployment", model, deployment: d })}>
            <EditIcon size={14} /> {t("admin.edit")}
          </Button>
          <Button variant="ghost" className="btn-sm" onClick={() => toggle.mutate()} loading={toggle.isPending}>
            {d.enabled ? t("admin.disable") : t("admin.enable")}
          </Button>
          <Button
            variant="ghost"
            className="btn-sm btn-ghost-danger"
            onClick={() => open({ kind: "delete-deployment", model, deployment: d })}
          >
            <TrashIcon size={14} /> {t("admin.delete")}
          </Button>
        </div>
        {toggle.isError && <Alert tone="error">{adminErrorMessage(t, toggle.error)}</Alert>}
      </td>
    </tr>
  );
}

