-- Models offered to some plans only. A model without rows here is offered
-- to every plan; with rows, only developers on one of those plans can use
-- it (the gateway tells others the model does not exist).
CREATE TABLE model_plans (
    model_id TEXT NOT NULL REFERENCES models (id),
    plan_id  TEXT NOT NULL REFERENCES plans (id),
    PRIMARY KEY (model_id, plan_id)
);
CREATE INDEX model_plans_plan ON model_plans (plan_id);
