using System.Collections.Immutable;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains;

/// <summary>
/// The rules a new policy version must meet before it is stored, and the version as it will be stored. Pure: the
/// store grain asks, then writes.
/// </summary>
/// <param name="materialNotice">§7: how long ahead a material change of a published policy must be announced.</param>
/// <param name="leaseLead">
/// The least a version may be scheduled ahead: the policy lease. Every copy of the old version handed out before
/// the version was stored has run out by then, and every copy handed out since ends at its effective time.
/// </param>
public sealed class PolicyVersions(TimeSpan materialNotice, TimeSpan leaseLead)
{
    /// <summary>Checks <paramref name="update"/> against the stored versions; on success the version to store.</summary>
    public PolicyPublishResult Check(StoreState stored, PolicyUpdate update, DateTimeOffset now)
    {
        if (Draft(stored, update, now) is { Status: not PolicyPublishStatus.Published } refused)
        {
            return refused;
        }

        var latest = stored.Latest;

        // The first version amends nothing: there is no earlier meaning of a purpose to give notice of.
        var notice = update.HasMaterialChange && latest is not null ? materialNotice : TimeSpan.Zero;
        if (update.EffectiveAt is null)
        {
            if (notice > TimeSpan.Zero)
            {
                return new PolicyPublishResult(PolicyPublishStatus.NoticePeriodRequired, latest, now + notice);
            }

            if (!stored.UpcomingAt(now).IsEmpty)
            {
                return new PolicyPublishResult(PolicyPublishStatus.EffectiveBeforeScheduled, latest, stored.Scheduled[^1].InForceFrom);
            }

            return Published(stored, update, now, effectiveAt: null);
        }

        var effectiveAt = update.EffectiveAt.Value;
        if (notice > TimeSpan.Zero && effectiveAt < now + notice)
        {
            return new PolicyPublishResult(PolicyPublishStatus.NoticePeriodRequired, latest, now + notice);
        }

        if (effectiveAt < now + leaseLead)
        {
            return new PolicyPublishResult(PolicyPublishStatus.EffectiveAtTooSoon, latest, now + leaseLead);
        }

        if (stored.UpcomingAt(now) is { IsEmpty: false } upcoming && effectiveAt < upcoming[^1].InForceFrom)
        {
            return new PolicyPublishResult(PolicyPublishStatus.EffectiveBeforeScheduled, latest, upcoming[^1].InForceFrom);
        }

        return Published(stored, update, now, effectiveAt);
    }

    /// <summary>
    /// The version as it would be stored, checked for what it says (its number, the seller's attestation) but not for
    /// when it takes effect: what an impact preview evaluates.
    /// </summary>
    public static PolicyPublishResult Draft(StoreState stored, PolicyUpdate update, DateTimeOffset now)
    {
        var latest = stored.Latest;
        if (latest is not null && update.Version <= latest.Version)
        {
            return new PolicyPublishResult(PolicyPublishStatus.VersionNotIncreasing, latest);
        }

        if (!update.SellerAttestation && update.Purposes.Any(p => p.Value.Enabled && p.Key.RequiresSellerAttestation()))
        {
            return new PolicyPublishResult(PolicyPublishStatus.SellerAttestationRequired, latest);
        }

        return Published(stored, update, now, update.EffectiveAt);
    }

    /// <summary>Whether a scheduled version may still be withdrawn: not once copies of it could be about.</summary>
    public PolicyCancelStatus CheckCancel(StoreState stored, int version, DateTimeOffset now)
    {
        var scheduled = stored.UpcomingAt(now).Find(policy => policy.Version == version);
        if (scheduled is null)
        {
            return PolicyCancelStatus.NotScheduled;
        }

        return scheduled.InForceFrom < now + leaseLead ? PolicyCancelStatus.TooLate : PolicyCancelStatus.Cancelled;
    }

    private static PolicyPublishResult Published(StoreState stored, PolicyUpdate update, DateTimeOffset now, DateTimeOffset? effectiveAt)
    {
        // Material changes accumulate along the versions in order, scheduled ones included.
        var materialChanges = stored.Latest?.MaterialChangeVersions ?? ImmutableDictionary<Purpose, int>.Empty;
        foreach (var (purpose, setting) in update.Purposes)
        {
            if (setting.MaterialChange)
            {
                materialChanges = materialChanges.SetItem(purpose, update.Version);
            }
        }

        var policy = new StorePolicy(update.Version, update.Status, update.SellerAttestation, update.Purposes, materialChanges, now, effectiveAt);
        return new PolicyPublishResult(PolicyPublishStatus.Published, policy);
    }
}
