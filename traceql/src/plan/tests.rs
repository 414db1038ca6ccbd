//! Snapshots of the fetch side of plans for representative queries: what is pushed down, with
//! which combine mode, and what is only fetched.

use crate::plan::{SearchOptions, plan_search};

fn fetch_of(query: &str) -> String {
    let root = crate::parse(query).unwrap_or_else(|error| panic!("{query}: {error}"));
    let plan = plan_search(&root, SearchOptions::default())
        .unwrap_or_else(|error| panic!("{query}: {error}"));
    let Some(fetch) = plan.fetch else {
        return format!("{query}\n=> fetches nothing");
    };
    let mut out = format!(
        "{query}\n=> combine {:?}, span ids {}, structure {}, keep most recent {:?}\n",
        fetch.combine, fetch.need_span_ids, fetch.need_structure, fetch.keep_most_recent
    );
    for condition in &fetch.conditions {
        match &condition.op {
            Some(op) => out.push_str(&format!("   {} {op:?}\n", condition.attribute)),
            None => out.push_str(&format!("   {} (fetch only)\n", condition.attribute)),
        }
    }
    out.push_str(&format!(
        "   second pass: {}",
        plan.second_pass
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    out
}

#[test]
fn plans_of_representative_queries() {
    let queries = [
        "{ span.http.status_code >= 500 }",
        "{ resource.service.name = \"payment-service\" }",
        "{ duration > 500ms && kind = server }",
        "{ span.http.route =~ \"/api/v1/users/.*\" }",
        "{ resource.service.name = \"api-gateway\" } >> { span.db.system = \"postgresql\" && duration > 100ms }",
        "{ resource.service.name = \"cart-service\" } | count() > 5",
        "{ .a = 1 || .b = 2 }",
        "{ .a = 1 || .b * 2 = 4 }",
        "{ !(.foo = \"x\") }",
        "{ !span.flag && .x != nil }",
        "{ }",
        "{ 1 = 2 }",
        "{ false } >> { .a = 1 }",
        "{ .a = 1 } | count() > 2 | { .b = 2 }",
        "{ .a = 1 } | { .b = 2 } | select(span.c, resource.d)",
        "({ .a = 1 } | count() > 1) && ({ .b = 2 })",
        "{ trace:duration > 1s && span:id = \"00ab\" }",
        "{ event:name = \"exception\" && event.msg = \"timeout\" }",
        "count() > 3",
        "{ } | by(resource.service.name)",
        "{ status = error }",
        "{ status = error } | select(span.c)",
        "{ event.msg = \"timeout\" }",
    ];
    let plans: Vec<String> = queries.iter().map(|query| fetch_of(query)).collect();
    insta::assert_snapshot!(plans.join("\n\n"));
}
