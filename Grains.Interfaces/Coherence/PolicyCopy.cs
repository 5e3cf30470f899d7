using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Coherence;

/// <summary>Where a <see cref="PolicyCopy"/> gets its policy lease from (its subject grain, which asks the store).</summary>
public interface IPolicyLeaseSource
{
    /// <param name="held">The version the copy holds: a lease of the same version need not carry it.</param>
    Task<PolicyLease> AcquirePolicyLeaseAsync(PolicyStamp? held);

    /// <summary>A lease arrived: what it says beside the policy (absence views, earlier activations) is the subject's.</summary>
    void Received(PolicyLease lease);
}

/// <summary>
/// A subject's copy of its store's committed policy, held under a policy lease from the store grain.
/// <para>
/// Invariant: the copy is used (for the subject's own decisions and writes) only until the lease it
/// came with runs out, counted from before the request, so never after the store stopped counting this subject as a
/// holder to push a new version to; a version replaces the copy only if it supersedes it (version, then publish
/// time), so an older answer arriving late never brings back an older policy.
/// </para>
/// <para>
/// A refresh that was already running when a caller needed the copy can bring a lease that has run out by the time
/// it arrives: the store cuts every lease at the instant a scheduled version takes effect, and nobody is told at that
/// instant. <see cref="EnsureAsync"/> therefore asks until the copy runs; nothing decides from a copy that ran out,
/// not even once.
/// </para>
/// </summary>
public sealed class PolicyCopy(TimeProvider time, IPolicyLeaseSource source)
{
    /// <summary>
    /// Requests for a running copy before giving up: one joined that was sent before, one of its own, and one more in
    /// case a scheduled version took effect while that one was on its way.
    /// </summary>
    public const int MaxRequests = 3;

    private Task? _refresh;

    public StorePolicy? Policy { get; private set; }

    /// <summary>When the lease of this copy runs out (a timestamp of the time provider).</summary>
    public long ExpiresAt { get; private set; }

    public bool Expired => time.GetTimestamp() >= ExpiresAt;

    /// <summary>Completes once the copy runs; throws <see cref="TimeoutException"/> if no lease that still runs came.</summary>
    public Task EnsureAsync() => Expired ? RenewUntilRunningAsync() : Task.CompletedTask;

    private async Task RenewUntilRunningAsync()
    {
        for (var requests = 0; Expired; requests++)
        {
            if (requests == MaxRequests)
            {
                throw new TimeoutException($"The store's policy lease ran out on arrival {MaxRequests} times.");
            }

            await RefreshAsync();
        }
    }

    /// <summary>A new lease; concurrent callers share one request.</summary>
    public Task RefreshAsync()
    {
        if (_refresh is { } running)
        {
            return running;
        }

        var refresh = RefreshCoreAsync();
        // Kept only while it runs: one that completed at once must not be found and reused later.
        if (!refresh.IsCompleted)
        {
            _refresh = refresh;
        }

        return refresh;
    }

    private async Task RefreshCoreAsync()
    {
        try
        {
            var requestedAt = time.GetTimestamp();
            var lease = await source.AcquirePolicyLeaseAsync(PolicyStamp.Of(Policy));
            source.Received(lease);
            // Null: none in force, or the version this copy named, which it keeps.
            if (lease.Policy is not null)
            {
                Accept(lease.Policy);
            }

            ExpiresAt = requestedAt + time.TimestampTicks(lease.Duration);
        }
        finally
        {
            _refresh = null;
        }
    }

    /// <summary>A version pushed by the store, or brought by a lease.</summary>
    public void Accept(StorePolicy policy)
    {
        if (policy.Supersedes(Policy))
        {
            Policy = policy;
        }
    }
}
