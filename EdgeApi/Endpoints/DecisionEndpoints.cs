using System.Diagnostics;
using System.Runtime.InteropServices;
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
    private const int MaxGrainCallsPerBatch = 512;

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

        // One decision per distinct subject: from this edge's leases, else one grain call each, all in flight
        // at once. Results go back in item order.
        // The items of one subject are chained through `next` (the index of its next item, -1 after the last), so
        // grouping allocates nothing per subject but its entry here.
        var bySubject = new Dictionary<string, (int First, int Last, int Count)>(StringComparer.Ordinal);
        var next = new int[items.Count];
        var asked = new Purpose[items.Count];
        for (var i = 0; i < items.Count; i++)
        {
            var item = items[i];
            if (item is null || !Ids.IsValid(item.SubjectId))
            {
                return EdgeProblems.BadRequest("invalid_id", $"items[{i}].subjectId must be 1 to 128 characters of A-Z a-z 0-9 . _ : -");
            }

            if (!Purposes.TryParse(item.Purpose, out asked[i]))
            {
                return EdgeProblems.BadRequest("unknown_purpose", $"items[{i}].purpose '{item.Purpose}' is not a purpose.");
            }

            next[i] = -1;
            ref var chain = ref CollectionsMarshal.GetValueRefOrAddDefault(bySubject, item.SubjectId!, out var known);
            if (known)
            {
                next[chain.Last] = i;
                chain = (chain.First, i, chain.Count + 1);
            }
            else
            {
                chain = (i, i, 1);
            }
        }

        var signals = body.Value.Signals is { } s ? new RequestSignals(s.Dnt, s.Gpc) : RequestSignals.None;
        var results = new BatchResult[items.Count];
        var decisions = new Decision[items.Count];
        // Subjects without a lease here go to their grains, a bounded number at a time: 10,000 first activations
        // sent at once would queue behind each other past the per-call timeout.
        List<(string SubjectId, int First, Purpose[] Purposes)>? missed = null;
        foreach (var (subjectId, chain) in bySubject)
        {
            var purposes = new Purpose[chain.Count];
            for (int k = chain.First, j = 0; k >= 0; k = next[k], j++)
            {
                purposes[j] = asked[k];
            }

            if (cache.TryDecide(storeId, subjectId, purposes, signals, out var decided))
            {
                Place(subjectId, chain.First, decided);
            }
            else
            {
                (missed ??= []).Add((subjectId, chain.First, purposes));
            }
        }

        if (missed is not null)
        {
            await Parallel.ForEachAsync(missed, new ParallelOptions { MaxDegreeOfParallelism = MaxGrainCallsPerBatch }, async (miss, _) =>
                Place(miss.SubjectId, miss.First, await cache.DecideAsync(storeId, miss.SubjectId, miss.Purposes, signals)));
        }

        metrics.Decided(decisions, "batch", startedAt);
        return new JsonBodyResult<BatchResponse>(new BatchResponse(results), EdgeJsonContext.Default.BatchResponse);

        // The subject's decisions come in the order its items were chained.
        void Place(string subjectId, int first, DecisionSet decided)
        {
            for (int k = first, j = 0; k >= 0; k = next[k], j++)
            {
                var decision = decided.Decisions[j];
                decisions[k] = decision;
                results[k] = new BatchResult(subjectId, decision.Purpose.ToId(), decision.Allowed, decision.Reason.ToCode());
            }
        }
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
