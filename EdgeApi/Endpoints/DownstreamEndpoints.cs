using ShopAstro.EdgeApi.Auth;
using ShopAstro.EdgeApi.Http;
using ShopAstro.EdgeApi.OpenApi;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.EdgeApi.Endpoints;

/// <summary>
/// Downstream systems (§3(4): a third party that holds the data is told when it must stop and delete): registration,
/// and what was propagated to each. Sellers and admins only; a secret is write-only.
/// </summary>
public static class DownstreamEndpoints
{
    public const int MinimumSecretLength = 16;
    public const int MaximumSecretLength = 256;
    public const int MaximumUrlLength = 2048;

    public static RouteGroupBuilder MapDownstreamEndpoints(this RouteGroupBuilder store)
    {
        store.MapPost("/downstream", Register)
            .RequireAuthorization(EdgePolicies.Seller)
            .WithName("RegisterDownstreamSystem")
            .WithSummary("Registers a webhook that receives every withdrawal, deletion, cancellation and minor flag as a signed event: {\"url\":\"https://...\",\"secret\":\"...\"}.")
            .AcceptsJson<DownstreamSystemBody>()
            .Produces<DownstreamSystemResponse>(StatusCodes.Status201Created)
            .ProducesProblems(StatusCodes.Status400BadRequest, "invalid_url", "invalid_secret")
            .WithExamples(ApiExamples.DownstreamRequest, ApiExamples.DownstreamResponse, StatusCodes.Status201Created);
        store.MapGet("/downstream", List)
            .RequireAuthorization(EdgePolicies.Seller)
            .WithName("ListDownstreamSystems")
            .WithSummary("The store's downstream systems (never their secrets).")
            .Produces<DownstreamSystemList>();
        store.MapDelete("/downstream/{systemId}", Remove)
            .RequireAuthorization(EdgePolicies.Seller)
            .WithName("RemoveDownstreamSystem")
            .WithSummary("Removes a downstream system and every event still queued for it.")
            .Produces(StatusCodes.Status204NoContent)
            .ProducesProblems(StatusCodes.Status404NotFound, "downstream_not_found");
        store.MapGet("/propagation", Propagation)
            .RequireAuthorization(EdgePolicies.Seller)
            .WithName("GetPropagation")
            .WithSummary("Per downstream system: pending, delivered and failed events, the oldest pending one's age and the delivery latency.")
            .Produces<PropagationResponse>()
            .WithExamples(request: null, ApiExamples.Propagation);
        return store;
    }

    private static async Task<IResult> Register(string storeId, HttpRequest request, IGrainFactory grains)
    {
        if (Ids.Reject(storeId) is { } invalid)
        {
            return invalid;
        }

        var body = await JsonBody.ReadAsync(request, EdgeJsonContext.Default.DownstreamSystemBody);
        if (body.Problem is not null)
        {
            return body.Problem;
        }

        var (url, secret) = (body.Value!.Url, body.Value.Secret);
        if (url is null || url.Length > MaximumUrlLength || !Uri.TryCreate(url, UriKind.Absolute, out var parsed)
            || (parsed.Scheme != Uri.UriSchemeHttp && parsed.Scheme != Uri.UriSchemeHttps) || !string.IsNullOrEmpty(parsed.UserInfo))
        {
            return EdgeProblems.BadRequest("invalid_url",
                $"'url' must be an absolute http or https URL of at most {MaximumUrlLength} characters, without user information.");
        }

        if (secret is null || secret.Length is < MinimumSecretLength or > MaximumSecretLength)
        {
            return EdgeProblems.BadRequest("invalid_secret",
                $"'secret' must be {MinimumSecretLength} to {MaximumSecretLength} characters (the key of the events' HMAC-SHA256 signature).");
        }

        var system = await grains.GetGrain<IDownstreamRegistryGrain>(storeId).Register(parsed.AbsoluteUri, secret);
        return system is null
            ? EdgeProblems.BadRequest("invalid_url", "'url' names a loopback or private address, which the cluster does not call.")
            : TypedResults.Created($"/v1/stores/{storeId}/downstream/{system.Id}", ToResponse(system));
    }

    private static async Task<IResult> List(string storeId, IGrainFactory grains)
    {
        if (Ids.Reject(storeId) is { } invalid)
        {
            return invalid;
        }

        var systems = await grains.GetGrain<IDownstreamRegistryGrain>(storeId).List();
        return TypedResults.Ok(new DownstreamSystemList([.. systems.Select(ToResponse)]));
    }

    private static async Task<IResult> Remove(string storeId, string systemId, IGrainFactory grains)
    {
        if (Ids.Reject(storeId) is { } invalid)
        {
            return invalid;
        }

        return systemId.Length <= 64 && await grains.GetGrain<IDownstreamRegistryGrain>(storeId).Remove(systemId)
            ? TypedResults.NoContent()
            : EdgeProblems.NotFound("downstream_not_found", "The store has no downstream system with this id.");
    }

    private static async Task<IResult> Propagation(string storeId, IGrainFactory grains, TimeProvider time)
    {
        if (Ids.Reject(storeId) is { } invalid)
        {
            return invalid;
        }

        var systems = await grains.GetGrain<IDownstreamRegistryGrain>(storeId).Propagation();
        var now = time.GetUtcNow();
        return TypedResults.Ok(new PropagationResponse(storeId, [.. systems.Select(s => new PropagationSystem(
            s.SystemId,
            s.Url,
            s.Pending,
            s.Delivered,
            s.Failed,
            s.OldestPendingAt is { } oldest ? Math.Max(0, (now - oldest).TotalSeconds) : null,
            s.Latency is { } latency
                ? new PropagationLatency(latency.Count, latency.LastMilliseconds, latency.MeanMilliseconds, latency.P50Milliseconds,
                    latency.P99Milliseconds, latency.LastAcknowledgedAt.UtcDateTime)
                : null,
            s.LastError))]));
    }

    private static DownstreamSystemResponse ToResponse(DownstreamSystem system) =>
        new(system.Id, system.Url, system.CreatedAt.UtcDateTime);
}
