using System.Diagnostics;
using Microsoft.Extensions.Primitives;
using ShopAstro.EdgeApi.Auth;
using ShopAstro.EdgeApi.Decisions;
using ShopAstro.EdgeApi.Http;
using ShopAstro.EdgeApi.OpenApi;
using ShopAstro.EdgeApi.Telemetry;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.EdgeApi.Endpoints;

/// <summary>The hot path: permission checks for storefronts and the recommendation pipeline.</summary>
public static class DecisionEndpoints
{
    public const int MaxBatchItems = 10_000;
    public const int MaxPurposesPerCheck = 32;
    public const string CheckName = "CheckDecisions";
    public const string PurposeKey = "purpose";
    public const string ExplainKey = "explain";

    /// <param name="checkRequestDuration">
    /// Whether the single check is also counted in ASP.NET Core's <c>http.server.request.duration</c>
    /// (<see cref="TelemetryExtensions.CheckRequestDurationKey"/>). Off by default: that histogram's measurement, with its
    /// five tags, took about 8 % of the CPU per check in the short load profile (load-tests/results/20261206-ab-http-metrics.md),
    /// and the check's duration is measured anyway, as <c>shopastro.decision.duration{kind="check"}</c>.
    /// </param>
    public static RouteGroupBuilder MapDecisionEndpoints(this RouteGroupBuilder store, bool checkRequestDuration)
    {
        var check = store.MapGet("/subjects/{subjectId}/decisions", Check)
            .RequireAuthorization(EdgePolicies.Storefront)
            .WithName(CheckName)
            .WithSummary("Decides each named purpose for one subject, reading DNT and Sec-GPC.")
            .WithQueryParameter(PurposeKey, OperationDocs.ListOf(ContractSchemas.PurposeIds, MaxPurposesPerCheck),
                "The purposes to decide, in the order of the answer: ?purpose=analytics&purpose=cart.", required: true)
            .WithQueryParameter(ExplainKey, OperationDocs.Boolean(),
                "true: each decision carries the rules of the precedence table tried for it (trace), decided by the subject's grain.")
            .ReadsPrivacySignals()
            .Produces<DecisionResponse>()
            .ProducesProblems(StatusCodes.Status400BadRequest, "purpose_required", "too_many_purposes", "unknown_purpose", "invalid_explain")
            .WithExamples(request: null, ApiExamples.Decisions);
        if (!checkRequestDuration)
        {
            // Also for the checks CheckFastPath answers: it gives them this endpoint, whose metadata hosting reads.
            check.DisableHttpMetrics();
        }

        store.MapPost("/decisions/batch", Batch)
            .RequireAuthorization(EdgePolicies.Storefront)
            .WithName("CheckDecisionsBatch")
            .WithSummary("Decides up to 10,000 (subject, purpose) items; the body's signals apply to all.")
            .AcceptsJson<BatchRequest>()
            .Produces<BatchResponse>()
            .ProducesProblems(StatusCodes.Status400BadRequest, "items_required", "batch_too_large", "unknown_purpose")
            .WithExamples(ApiExamples.BatchRequest, ApiExamples.BatchResponse);
        return store;
    }

    private static async Task<IResult> Check(
        string storeId, string subjectId, HttpRequest request, IGrainFactory grains, DecisionCache cache, EdgeMetrics metrics)
    {
        var startedAt = Stopwatch.GetTimestamp();
        if (Ids.Reject(storeId, subjectId) is { } invalid)
        {
            return invalid;
        }

        var requested = request.Query[PurposeKey];
        if (requested.Count == 0)
        {
            return EdgeProblems.BadRequest("purpose_required", "Name at least one purpose: ?purpose=analytics&purpose=cart.");
        }

        if (requested.Count > MaxPurposesPerCheck)
        {
            return EdgeProblems.BadRequest("too_many_purposes", $"At most {MaxPurposesPerCheck} purposes per check.");
        }

        if (!TryParsePurposes(requested, out var purposes, out var unknown))
        {
            return EdgeProblems.UnknownPurpose(unknown);
        }

        var signals = PrivacySignals.From(request);
        if (request.Query[ExplainKey] is { Count: > 0 } explain)
        {
            if (explain.Count != 1 || explain[0] is not ("true" or "false"))
            {
                return EdgeProblems.BadRequest("invalid_explain", "'explain' must be true or false.");
            }

            if (explain[0] == "true")
            {
                var explained = await grains.GetGrain<ISubjectGrain>(SubjectKey.Of(storeId, subjectId)).Explain(purposes, signals);
                metrics.Decided(explained.Decisions.Select(d => d.Decision).ToArray(), "explain", startedAt);
                return TypedResults.Ok(new DecisionResponse(
                    storeId, subjectId, explained.PolicyVersion, explained.Decisions.Select(d => d.ToItem()).ToArray()));
            }
        }

        var result = await cache.DecideAsync(storeId, subjectId, purposes, signals);
        metrics.Decided(result.Decisions, "check", startedAt);
        var items = new DecisionItem[result.Decisions.Length];
        for (var i = 0; i < items.Length; i++)
        {
            items[i] = result.Decisions[i].ToItem();
        }

        return TypedResults.Ok(new DecisionResponse(storeId, subjectId, result.PolicyVersion, items));
    }

    private static async Task<IResult> Batch(string storeId, HttpRequest request, DecisionCache cache, EdgeMetrics metrics)
    {
        var startedAt = Stopwatch.GetTimestamp();
        if (Ids.Reject(storeId) is { } invalid)
        {
            return invalid;
        }

        var body = await JsonBody.ReadAsync(request, EdgeJsonContext.Default.BatchRequest);
        if (body.Problem is not null)
        {
            return body.Problem;
        }

        var items = body.Value!.Items;
        if (items is null)
        {
            return EdgeProblems.BadRequest("items_required", "The body needs an 'items' array.");
        }

        if (items.Count > MaxBatchItems)
        {
            return EdgeProblems.BadRequest("batch_too_large", $"At most {MaxBatchItems} items per batch; got {items.Count}.");
        }

        var batch = BatchDecisions.Rent();
        if (batch.Group(items) is { } problem)
        {
            batch.Return();
            return problem;
        }

        await batch.DecideAsync(cache, storeId, body.Value.Signals is { } s ? new RequestSignals(s.Dnt, s.Gpc) : RequestSignals.None);
        metrics.Decided(batch.Decisions, "batch", startedAt);
        return batch.Respond();
    }

    private static bool TryParsePurposes(StringValues requested, out Purpose[] purposes, out string? unknown)
    {
        purposes = new Purpose[requested.Count];
        for (var i = 0; i < requested.Count; i++)
        {
            if (!Purposes.TryParse(requested[i], out purposes[i]))
            {
                unknown = requested[i];
                return false;
            }
        }

        unknown = null;
        return true;
    }
}
