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
            .WithSummary("The store's current policy.");
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

        var update = new PolicyUpdate(policy.Version.Value, status, policy.SellerAttestation ?? false, purposes.ToImmutable());
        var result = await grains.GetGrain<IStoreGrain>(storeId).PublishPolicy(update);
        return result.Status switch
        {
            PolicyPublishStatus.Published => TypedResults.Ok(result.Policy!.ToResponse(storeId)),
            PolicyPublishStatus.VersionNotIncreasing => EdgeProblems.Result(StatusCodes.Status409Conflict, "policy_version_conflict",
                "The version must be greater than the current one.", $"The current version is {result.Policy!.Version}."),
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

        var policy = await grains.GetGrain<IStoreGrain>(storeId).GetPolicy();
        return policy is null
            ? EdgeProblems.NotFound("policy_not_found", "The store has not published a policy.")
            : TypedResults.Ok(policy.ToResponse(storeId));
    }
}
