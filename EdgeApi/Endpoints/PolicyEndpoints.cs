using ShopAstro.EdgeApi.Auth;
using ShopAstro.EdgeApi.Http;
using ShopAstro.EdgeApi.OpenApi;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.EdgeApi.Endpoints;

/// <summary>A store's versioned policy.</summary>
public static class PolicyEndpoints
{
    public static RouteGroupBuilder MapPolicyEndpoints(this RouteGroupBuilder store)
    {
        store.MapPut("/policy", Publish)
            .RequireAuthorization(EdgePolicies.Seller)
            .WithName("PublishPolicy")
            .WithSummary("Publishes a new policy version; acknowledged once every later check sees it.")
            .AcceptsJson<PolicyRequest>()
            .Produces<PolicyResponse>()
            .Produces<ScheduledPolicyResponse>(StatusCodes.Status202Accepted)
            .ProducesProblems(StatusCodes.Status400BadRequest, "version_required", "invalid_status", "invalid_effective_at", "unknown_purpose", "enabled_required")
            .MayConflict("policy_version_conflict", "policy_scheduled")
            .ProducesProblems(StatusCodes.Status422UnprocessableEntity, "seller_attestation_required", "notice_period_required", "effective_at_too_soon")
            .WithExamples(ApiExamples.PolicyRequest, ApiExamples.PolicyResponse);
        store.MapGet("/policy", Get)
            .RequireAuthorization(EdgePolicies.Storefront)
            .WithName("GetPolicy")
            .WithSummary("The store's current policy, and the versions scheduled to take effect after it.")
            .Produces<PolicyResponse>()
            .ProducesProblems(StatusCodes.Status404NotFound, "policy_not_found")
            .WithExamples(request: null, ApiExamples.PolicyResponse);
        store.MapPost("/policy/preview", Preview)
            .RequireAuthorization(EdgePolicies.Seller)
            .WithName("PreviewPolicy")
            .WithSummary("How many subjects with a record a draft version would send back for re-consent, per purpose; nothing is published.")
            .AcceptsJson<PolicyRequest>()
            .Produces<PolicyPreviewResponse>()
            .ProducesProblems(StatusCodes.Status400BadRequest, "version_required", "invalid_status", "invalid_effective_at", "unknown_purpose", "enabled_required")
            .ProducesProblems(StatusCodes.Status409Conflict, "policy_version_conflict", "policy_scheduled")
            .ProducesProblems(StatusCodes.Status422UnprocessableEntity, "seller_attestation_required", "notice_period_required", "effective_at_too_soon")
            .WithExamples(ApiExamples.PreviewRequest, ApiExamples.PreviewResponse);
        store.MapDelete("/policy/upcoming/{version:int}", CancelScheduled)
            .RequireAuthorization(EdgePolicies.Seller)
            .WithName("CancelScheduledPolicy")
            .WithSummary("Withdraws a scheduled version (and any scheduled after it) before it takes effect.")
            .Produces(StatusCodes.Status204NoContent)
            .ProducesProblems(StatusCodes.Status404NotFound, "scheduled_policy_not_found")
            .MayConflict("policy_effective_soon");
        store.MapGet("/stats", GetStats)
            .RequireAuthorization(EdgePolicies.Seller)
            .WithName("GetStats")
            .WithSummary("Counts of checks, grants and withdrawals, and the opt-in rate per purpose (about a second behind).")
            .Produces<StatsResponse>()
            .WithExamples(request: null, ApiExamples.Stats);
        return store;
    }

    private static async Task<IResult> Publish(string storeId, HttpRequest request, IGrainFactory grains)
    {
        if (Ids.Reject(storeId) is { } invalid)
        {
            return invalid;
        }

        var (update, problem) = await PolicyInput.ReadAsync(request);
        if (problem is not null)
        {
            return problem;
        }

        var result = await grains.GetGrain<IStoreGrain>(storeId).PublishPolicy(update!);
        return result.Status switch
        {
            PolicyPublishStatus.Published when result.Policy!.EffectiveAt is not null =>
                TypedResults.Accepted($"/v1/stores/{storeId}/policy", result.Policy.ToScheduledResponse(storeId)),
            PolicyPublishStatus.Published => TypedResults.Ok(result.Policy!.ToResponse(storeId)),
            _ => PolicyInput.Refusal(result),
        };
    }

    private static async Task<IResult> Preview(string storeId, HttpRequest request, IGrainFactory grains)
    {
        if (Ids.Reject(storeId) is { } invalid)
        {
            return invalid;
        }

        var (update, problem) = await PolicyInput.ReadAsync(request);
        if (problem is not null)
        {
            return problem;
        }

        var draft = await grains.GetGrain<IStoreGrain>(storeId).DraftPolicy(update!);
        if (draft.Draft is null)
        {
            return PolicyInput.Refusal(new PolicyPublishResult(draft.Status, draft.Latest));
        }

        var impact = await grains.GetGrain<IPolicyImpactGrain>(storeId).Measure(draft.Current, draft.Draft);
        return TypedResults.Ok(impact.ToResponse(storeId, draft.Current, draft.Draft));
    }

    private static async Task<IResult> GetStats(string storeId, IGrainFactory grains)
    {
        if (Ids.Reject(storeId) is { } invalid)
        {
            return invalid;
        }

        var stats = await grains.GetGrain<IStoreGrain>(storeId).GetStats();
        return TypedResults.Ok(stats.ToResponse(storeId));
    }

    private static async Task<IResult> Get(string storeId, IGrainFactory grains)
    {
        if (Ids.Reject(storeId) is { } invalid)
        {
            return invalid;
        }

        var view = await grains.GetGrain<IStoreGrain>(storeId).GetPolicyView();
        if (view.Current is null)
        {
            return view.Upcoming.IsEmpty
                ? EdgeProblems.NotFound("policy_not_found", "The store has not published a policy.")
                : EdgeProblems.NotFound("policy_not_found",
                    $"The store's first policy (version {view.Upcoming[0].Version}) takes effect at {PolicyInput.Rfc3339(view.Upcoming[0].InForceFrom)}.");
        }

        return TypedResults.Ok(view.Current.ToResponse(storeId, view.Upcoming));
    }

    private static async Task<IResult> CancelScheduled(string storeId, int version, IGrainFactory grains)
    {
        if (Ids.Reject(storeId) is { } invalid)
        {
            return invalid;
        }

        return await grains.GetGrain<IStoreGrain>(storeId).CancelScheduledPolicy(version) switch
        {
            PolicyCancelStatus.Cancelled => TypedResults.NoContent(),
            PolicyCancelStatus.NotScheduled => EdgeProblems.NotFound("scheduled_policy_not_found",
                $"Version {version} is not scheduled to take effect (it is in force, cancelled or was never published)."),
            PolicyCancelStatus.TooLate => EdgeProblems.Result(StatusCodes.Status409Conflict, "policy_effective_soon",
                "The version takes effect too soon to be withdrawn.",
                "Within a policy lease of its effectiveAt its withdrawal could be stored after it took effect; publish a later version instead."),
            var other => throw new InvalidOperationException($"Unexpected cancel status {other}."),
        };
    }


}
