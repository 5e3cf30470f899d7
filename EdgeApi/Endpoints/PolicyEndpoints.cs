using System.Collections.Immutable;
using ShopAstro.EdgeApi.Auth;
using ShopAstro.EdgeApi.Http;
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
            .WithSummary("Publishes a new policy version; acknowledged once every later check sees it.");
        store.MapGet("/policy", Get)
            .RequireAuthorization(EdgePolicies.Storefront)
            .WithName("GetPolicy")
            .WithSummary("The store's current policy, and the versions scheduled to take effect after it.");
        store.MapDelete("/policy/upcoming/{version:int}", CancelScheduled)
            .RequireAuthorization(EdgePolicies.Seller)
            .WithName("CancelScheduledPolicy")
            .WithSummary("Withdraws a scheduled version (and any scheduled after it) before it takes effect.");
        store.MapGet("/stats", GetStats)
            .RequireAuthorization(EdgePolicies.Seller)
            .WithName("GetStats")
            .WithSummary("Counts of checks, grants and withdrawals, and the opt-in rate per purpose (about a second behind).");
        return store;
    }

    private static async Task<IResult> Publish(string storeId, HttpRequest request, IGrainFactory grains)
    {
        if (Ids.Reject(storeId) is { } invalid)
        {
            return invalid;
        }

        var body = await JsonBody.ReadAsync(request, EdgeJsonContext.Default.PolicyRequest);
        if (body.Problem is not null)
        {
            return body.Problem;
        }

        var policy = body.Value!;
        if (policy.Version is not >= 1)
        {
            return EdgeProblems.BadRequest("version_required", "'version' must be a whole number of 1 or more.");
        }

        StoreStatus status;
        switch (policy.Status)
        {
            case null or "active": status = StoreStatus.Active; break;
            case "suspended": status = StoreStatus.Suspended; break;
            default: return EdgeProblems.BadRequest("invalid_status", "'status' must be active or suspended.");
        }

        var purposes = ImmutableDictionary.CreateBuilder<Purpose, PurposeSetting>();
        foreach (var (id, setting) in policy.Purposes ?? [])
        {
            if (!Purposes.TryParse(id, out var purpose))
            {
                return EdgeProblems.UnknownPurpose(id);
            }

            if (setting?.Enabled is not { } enabled)
            {
                return EdgeProblems.BadRequest("enabled_required", $"purposes.{id}.enabled must be true or false.");
            }

            purposes[purpose] = new PurposeSetting(enabled, setting.MaterialChange ?? false);
        }

        var update = new PolicyUpdate(
            policy.Version.Value, status, policy.SellerAttestation ?? false, purposes.ToImmutable(), policy.EffectiveAt?.ToUniversalTime());
        var result = await grains.GetGrain<IStoreGrain>(storeId).PublishPolicy(update);
        return result.Status switch
        {
            PolicyPublishStatus.Published when result.Policy!.EffectiveAt is not null =>
                TypedResults.Accepted($"/v1/stores/{storeId}/policy", result.Policy.ToScheduledResponse(storeId)),
            PolicyPublishStatus.Published => TypedResults.Ok(result.Policy!.ToResponse(storeId)),
            PolicyPublishStatus.VersionNotIncreasing => EdgeProblems.Result(StatusCodes.Status409Conflict, "policy_version_conflict",
                "The version must be greater than the current one.",
                $"The latest version (in force or scheduled) is {result.Policy!.Version}."),
            PolicyPublishStatus.NoticePeriodRequired => EdgeProblems.Result(StatusCodes.Status422UnprocessableEntity,
                "notice_period_required", "A material change must be announced before it takes effect.",
                $"Policy §7: publish it with an effectiveAt of {Rfc3339(result.Earliest)} or later."),
            PolicyPublishStatus.EffectiveAtTooSoon => EdgeProblems.Result(StatusCodes.Status422UnprocessableEntity,
                "effective_at_too_soon", "A scheduled version must take effect at least a policy lease ahead.",
                $"Use an effectiveAt of {Rfc3339(result.Earliest)} or later, or leave it out to publish at once."),
            PolicyPublishStatus.EffectiveBeforeScheduled => EdgeProblems.Result(StatusCodes.Status409Conflict,
                "policy_scheduled", "Versions take effect in order, after those already scheduled.",
                $"Version {result.Policy!.Version} takes effect at {Rfc3339(result.Earliest)}: schedule this one at or after it, or cancel it first (DELETE .../policy/upcoming/{{version}})."),
            PolicyPublishStatus.SellerAttestationRequired => EdgeProblems.Result(StatusCodes.Status422UnprocessableEntity,
                "seller_attestation_required", "Enabling recommendation or advertising needs the seller's attestation.",
                "Set sellerAttestation to true once shoppers are informed and can choose (policy §1(3))."),
            _ => throw new InvalidOperationException($"Unexpected publish status {result.Status}."),
        };
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
                    $"The store's first policy (version {view.Upcoming[0].Version}) takes effect at {Rfc3339(view.Upcoming[0].InForceFrom)}.");
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

    private static string Rfc3339(DateTimeOffset? at) => at?.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'") ?? "";
}
