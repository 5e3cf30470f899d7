using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Coherence;

/// <summary>
/// What a check at an edge process decides from, and in which order it is looked for (one home for it: the edge's
/// decision cache and the simulation both use this). A subject with a lease is decided from its record under the
/// policy of its store's lease (both valid, docs/coherence.md); a subject without one, from the store's absence lease
/// if that names it absent; otherwise the check waits for a subject lease valid when it started and a store lease
/// valid when it decides, or is decided at the subject grain.
/// </summary>
public sealed class HeldDecisionInputs(TimeProvider time, HeldLeases leases, HeldAbsences absences)
{
    /// <summary>From what this process holds now; <paramref name="absent"/>: from the store's absence lease.</summary>
    public bool TryGet(string storeId, string subjectId, ReadOnlySpan<char> key, out SubjectRecord record, out StorePolicy? policy, out bool absent)
    {
        if (leases.TryGet(key, out var lease) && absences.TryGetPolicy(storeId, out policy))
        {
            RenewAhead(key, lease);
            (record, absent) = (lease.Subject, false);
            return true;
        }

        if (absences.TryGetAbsent(storeId, subjectId, out var absence))
        {
            (record, policy, absent) = (SubjectRecord.Empty, absence.Policy, true);
            return true;
        }

        (record, policy, absent) = (null!, null, false);
        return false;
    }

    /// <summary>
    /// After <see cref="TryGet"/> found nothing, for a check that started at <paramref name="startedAt"/>: the subject's
    /// lease (held, or a new one) and the policy of a store lease; <c>Held</c> false when no lease the epoch admits or
    /// no store lease came, and the check is decided at the subject grain.
    /// </summary>
    public async ValueTask<(bool Held, SubjectRecord Record, StorePolicy? Policy)> LeaseAsync(string storeId, string key, long startedAt)
    {
        var lease = leases.TryGet(key, out var held) ? held : await leases.LeaseForCheckAsync(key, startedAt);
        if (lease is null)
        {
            return (false, null!, null);
        }

        var (policyHeld, policy) = await absences.PolicyForCheckAsync(storeId);
        return (policyHeld, lease.Subject, policy);
    }

    /// <summary>
    /// A subject still asked for near the end of its lease gets the next one in the background, so that no check of a
    /// subject in use waits for a renewal (and renewals do not come in bursts).
    /// </summary>
    private void RenewAhead(ReadOnlySpan<char> key, HeldLeases.Entry lease)
    {
        if (time.GetTimestamp() >= lease.RenewAfter && !leases.Renewing(key))
        {
            leases.LeaseAsync(key.ToString()).ContinueWith(
                static renewal => _ = renewal.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        }
    }
}
