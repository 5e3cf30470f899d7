using ShopAstro.Coherence;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Tests.Coherence;

/// <summary>The grant side of one subject's leases as a silo makes it, for tests that drive it without a silo.</summary>
internal static class TestLeaseGrants
{
    /// <summary>A revoke timeout of 1 s; <paramref name="registered"/> is what the registry names, <paramref name="expel"/> its answer to an expulsion.</summary>
    public static LeaseGrants Of(TimeProvider time, IDecisionLeaseHolder[] registered, Func<IDecisionLeaseHolder, Task<TimeSpan>> expel) =>
        new(new LeaseGrantSettings(time, TimeSpan.FromSeconds(1), new RegisteredHolders(time, () => Task.FromResult(registered)),
            new UnresponsiveHolders(time), new HolderExpulsions(time, expel)), IgnoredLeaseFailures.Instance);
}

/// <summary>Failed lease calls are what these tests provoke; they judge the outcome, not the log.</summary>
internal sealed class IgnoredLeaseFailures : ILeaseFailureLog
{
    public static readonly IgnoredLeaseFailures Instance = new();

    public void LeaseCallFailed(Exception exception, string what)
    {
    }
}
