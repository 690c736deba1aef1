-- Friendly views for analysts, created in the staging warehouse after the published tables and audited with them.
-- Their comments (zh/en, per column) are in pipeline/metadata/column_descriptions.csv.

-- Urban–rural income ratio by region and year: the value of preferred_values (the one every computation uses:
-- derived here where urban and rural incomes exist, else the published ratio of the chosen source), beside the
-- published and derived figures, with who said it (publisher kind and publisher of the chosen source).
CREATE VIEW income_ratio_trend AS
WITH published AS (
    SELECT * FROM indicators WHERE indicator_code = 'urban_rural_income_ratio' AND method = 'published'
),
derived AS (
    SELECT * FROM indicators WHERE indicator_code = 'urban_rural_income_ratio' AND method = 'derived'
)
SELECT
    preferred.region_code,
    regions.name_zh AS region_name_zh,
    regions.name_en AS region_name_en,
    regions.level,
    preferred.year,
    preferred.value AS income_ratio,
    preferred.method,
    published.value AS published_value,
    derived.value AS derived_value,
    preferred.status,
    contains(preferred.status, 'b') AS series_break,
    contains(preferred.status, 'u') AS low_confidence,
    preferred.source_ids,
    preferred.publisher_kind,
    CASE WHEN preferred.method = 'published' THEN sources.publisher END AS publisher,
    preferred.reliability,
    preferred.choice_rule
FROM preferred_values AS preferred
JOIN regions USING (region_code)
LEFT JOIN published USING (region_code, year)
LEFT JOIN derived USING (region_code, year)
LEFT JOIN sources ON sources.source_id = preferred.source_ids
WHERE preferred.indicator_code = 'urban_rural_income_ratio'
ORDER BY preferred.region_code, preferred.year;

-- One row per Guangzhou district and year with its 一区一策 group and the main indicators, every figure the value of
-- preferred_values (the one the computed tables use), with the publisher kinds and reliability grades behind the row.
CREATE VIEW district_profile AS
WITH districts AS (
    SELECT region_code, name_zh, name_en, district_group
    FROM regions
    WHERE parent_code = '440100' AND level = 'district'
),
main_figures AS (
    SELECT * FROM preferred_values
    WHERE region_code IN (SELECT region_code FROM districts)
        AND indicator_code IN (
            'resident_population', 'urbanisation_rate', 'census_urbanisation_rate', 'gdp', 'gdp_per_capita',
            'all_disposable_income_per_capita', 'urban_disposable_income_per_capita',
            'rural_disposable_income_per_capita', 'urban_rural_income_ratio',
            'industrial_output_above_designated_size', 'industrial_output_above_designated_size_share_of_parent',
            'industrial_output_above_designated_size_growth', 'industrial_value_added',
            'industrial_value_added_growth'
        )
)
SELECT
    districts.region_code,
    districts.name_zh,
    districts.name_en,
    districts.district_group,
    main_figures.year,
    max(value) FILTER (WHERE indicator_code = 'resident_population') AS resident_population,
    max(value) FILTER (WHERE indicator_code = 'urbanisation_rate') AS urbanisation_rate,
    max(value) FILTER (WHERE indicator_code = 'census_urbanisation_rate') AS census_urbanisation_rate,
    max(value) FILTER (WHERE indicator_code = 'gdp') AS gdp,
    max(value) FILTER (WHERE indicator_code = 'gdp_per_capita') AS gdp_per_capita,
    max(value) FILTER (WHERE indicator_code = 'all_disposable_income_per_capita') AS all_disposable_income_per_capita,
    max(value) FILTER (WHERE indicator_code = 'urban_disposable_income_per_capita')
        AS urban_disposable_income_per_capita,
    max(value) FILTER (WHERE indicator_code = 'rural_disposable_income_per_capita')
        AS rural_disposable_income_per_capita,
    max(value) FILTER (WHERE indicator_code = 'urban_rural_income_ratio') AS urban_rural_income_ratio,
    max(value) FILTER (WHERE indicator_code = 'industrial_output_above_designated_size')
        AS industrial_output_above_designated_size,
    max(value) FILTER (WHERE indicator_code = 'industrial_output_above_designated_size_share_of_parent')
        AS industrial_output_share_of_city,
    max(value) FILTER (WHERE indicator_code = 'industrial_output_above_designated_size_growth')
        AS industrial_output_growth,
    max(value) FILTER (WHERE indicator_code = 'industrial_value_added') AS industrial_value_added,
    max(value) FILTER (WHERE indicator_code = 'industrial_value_added_growth') AS industrial_value_added_growth,
    coalesce(string_agg(DISTINCT nullif(status, ''), ';' ORDER BY nullif(status, '')), '') AS status_flags,
    string_agg(DISTINCT publisher_kind, ';' ORDER BY publisher_kind) AS publisher_kinds,
    string_agg(DISTINCT reliability, ';' ORDER BY reliability) AS reliability_grades
FROM districts
JOIN main_figures USING (region_code)
GROUP BY districts.region_code, districts.name_zh, districts.name_en, districts.district_group, main_figures.year
ORDER BY districts.region_code, main_figures.year;

-- Dispersion measures side by side: one row per indicator, parent region, unit level and year.
CREATE VIEW dispersion_trend AS
SELECT
    dispersion.indicator_code,
    indicator_catalog.name_zh AS indicator_name_zh,
    indicator_catalog.name_en AS indicator_name_en,
    dispersion.parent_region_code,
    regions.name_zh AS parent_name_zh,
    regions.name_en AS parent_name_en,
    dispersion.unit_level,
    dispersion.year,
    max(dispersion.value) FILTER (WHERE measure = 'cv') AS cv,
    max(dispersion.value) FILTER (WHERE measure = 'weighted_cv') AS weighted_cv,
    max(dispersion.value) FILTER (WHERE measure = 'theil') AS theil,
    max(dispersion.value) FILTER (WHERE measure = 'gini') AS gini,
    max(dispersion.value) FILTER (WHERE measure = 'max_min_ratio') AS max_min_ratio,
    max(dispersion.n_units) FILTER (WHERE measure = 'cv') AS n_units,
    max(dispersion.n_units) FILTER (WHERE measure = 'weighted_cv') AS n_units_weighted
FROM dispersion
JOIN indicator_catalog USING (indicator_code)
JOIN regions ON regions.region_code = dispersion.parent_region_code
GROUP BY ALL
ORDER BY dispersion.indicator_code, dispersion.parent_region_code, dispersion.unit_level, dispersion.year;

-- β- and σ-convergence side by side: one row per β window, with the σ trend of the same units (CV, or the logit
-- standard deviation of a bounded share) and plain-language readings that say when a result is not significant.
CREATE VIEW convergence_evidence AS
SELECT
    convergence.indicator_code,
    indicator_catalog.name_zh AS indicator_name_zh,
    indicator_catalog.name_en AS indicator_name_en,
    convergence.parent_region_code,
    regions.name_zh AS parent_name_zh,
    convergence.unit_level,
    convergence.start_year,
    convergence.end_year,
    convergence.window_kind,
    convergence.scale,
    convergence.beta,
    convergence.p_value AS beta_p_value,
    convergence.half_life_years,
    convergence.n_units,
    convergence.n_units_at_bound,
    CASE
        WHEN NOT convergence.significant_at_5pct THEN 'no significant β'
        WHEN convergence.beta < 0 THEN 'β-convergence'
        ELSE 'β-divergence'
    END AS beta_reading,
    sigma.measure AS sigma_measure,
    sigma.slope AS sigma_slope,
    sigma.p_value AS sigma_p_value,
    sigma.reading AS sigma_reading
FROM convergence
JOIN indicator_catalog USING (indicator_code)
JOIN regions ON regions.region_code = convergence.parent_region_code
LEFT JOIN sigma_convergence AS sigma
    ON sigma.indicator_code = convergence.indicator_code
    AND sigma.parent_region_code = convergence.parent_region_code
    AND sigma.unit_level = convergence.unit_level
    AND sigma.measure = CASE WHEN convergence.scale = 'logit' THEN 'logit_sd' ELSE 'cv' END
ORDER BY convergence.indicator_code, convergence.parent_region_code, convergence.unit_level,
    convergence.start_year, convergence.end_year;
