-- Prices agreed with one developer (Enterprise terms), per public model
-- name, in USD per million tokens as decimal text like the catalog's.
-- They replace the model's prices for that developer's requests.
CREATE TABLE custom_prices (
    developer_id               TEXT   NOT NULL REFERENCES developers (id),
    model                      TEXT   NOT NULL,
    input_price_per_million    TEXT   NOT NULL,
    output_price_per_million   TEXT   NOT NULL,
    cached_price_per_million   TEXT   NOT NULL,
    updated_at                 BIGINT NOT NULL,
    PRIMARY KEY (developer_id, model)
);
