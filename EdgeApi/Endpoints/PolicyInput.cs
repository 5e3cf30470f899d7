using System.Collections.Immutable;
using System.Globalization;
using ShopAstro.EdgeApi.Http;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.EdgeApi.Endpoints;

/// <summary>A policy version as a body states it (for a publish or a preview), and the problems a refused one answers.</summary>
internal static class PolicyInput
{
    public static async Task<(PolicyUpdate? Update, IResult? Problem)> ReadAsync(HttpRequest request)
    {
        var body = await JsonBody.ReadAsync(request, EdgeJsonContext.Default.PolicyRequest);
        if (body.Problem is not null)
        {
            return (null, body.Problem);
        }

        var policy = body.Value!;
        if (policy.Version is not >= 1)
        {
            return (null, EdgeProblems.BadRequest("version_required", "'version' must be a whole number of 1 or more."));
        }

        StoreStatus status;
        switch (policy.Status)
        {
            case null or "active": status = StoreStatus.Active; break;
            case "suspended": status = StoreStatus.Suspended; break;
            default: return (null, EdgeProblems.BadRequest("invalid_status", "'status' must be active or suspended."));
        }

        DateTimeOffset? effectiveAt = null;
        if (policy.EffectiveAt is { } text)
        {
            if (!RequestInput.TryParseRfc3339(text, out var parsed) || parsed.Year < 2000)
            {
                return (null, EdgeProblems.BadRequest("invalid_effective_at",
                    "'effectiveAt' must be an RFC 3339 time with an offset, e.g. 2026-12-20T00:00:00Z."));
            }

            effectiveAt = parsed.ToUniversalTime();
        }

        var purposes = ImmutableDictionary.CreateBuilder<Purpose, PurposeSetting>();
        foreach (var (id, setting) in policy.Purposes ?? [])
        {
            if (!Purposes.TryParse(id, out var purpose))
            {
                return (null, EdgeProblems.UnknownPurpose(id));
            }

            if (setting?.Enabled is not { } enabled)
            {
                return (null, EdgeProblems.BadRequest("enabled_required", $"purposes.{id}.enabled must be true or false."));
            }

            purposes[purpose] = new PurposeSetting(enabled, setting.MaterialChange ?? false);
        }

        return (new PolicyUpdate(policy.Version.Value, status, policy.SellerAttestation ?? false, purposes.ToImmutable(), effectiveAt), null);
    }

    public static IResult Refusal(PolicyPublishResult result) => result.Status switch
    {
        PolicyPublishStatus.VersionNotIncreasing => EdgeProblems.Result(StatusCodes.Status409Conflict, "policy_version_conflict",
            "The version must be greater than the current one.",
            $"The latest version (in force or scheduled) is {result.Policy!.Version}."),
        PolicyPublishStatus.SellerAttestationRequired => EdgeProblems.Result(StatusCodes.Status422UnprocessableEntity,
            "seller_attestation_required", "Enabling recommendation or advertising needs the seller's attestation.",
            "Set sellerAttestation to true once shoppers are informed and can choose (policy §1(3))."),
        PolicyPublishStatus.NoticePeriodRequired => EdgeProblems.Result(StatusCodes.Status422UnprocessableEntity,
            "notice_period_required", "A material change must be announced before it takes effect.",
            $"Policy §7: publish it with an effectiveAt of {Rfc3339(result.Earliest)} or later."),
        PolicyPublishStatus.EffectiveAtTooSoon => EdgeProblems.Result(StatusCodes.Status422UnprocessableEntity,
            "effective_at_too_soon", "A scheduled version must take effect at least a policy lease ahead.",
            $"Use an effectiveAt of {Rfc3339(result.Earliest)} or later, or leave it out to publish at once."),
        PolicyPublishStatus.EffectiveBeforeScheduled => EdgeProblems.Result(StatusCodes.Status409Conflict,
            "policy_scheduled", "Versions take effect in order, after those already scheduled.",
            $"Version {result.Policy!.Version} takes effect at {Rfc3339(result.Earliest)}: schedule this one at or after it, or cancel it first (DELETE .../policy/upcoming/{{version}})."),
        _ => throw new InvalidOperationException($"Unexpected publish status {result.Status}."),
    };

    public static string Rfc3339(DateTimeOffset? at) =>
        at?.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture) ?? "";
}
