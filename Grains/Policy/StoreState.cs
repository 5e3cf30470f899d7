using System.Collections.Immutable;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Grains;

/// <summary>
/// A store's policy versions as stored. Which one is in force is a function of this state and the time: a
/// scheduled version governs from its <see cref="StorePolicy.EffectiveAt"/> on whether or not anything was written
/// then, so a store that was down at that instant, or activates later, answers from the right version at once.
/// </summary>
[GenerateSerializer, Immutable, Alias("shopastro.StoreState")]
public sealed record StoreState
{
    /// <summary>The version in force when the state was last written.</summary>
    [Id(0)] public StorePolicy? Policy { get; init; }

    /// <summary>Every version that has been in force, oldest first: which purposes changed materially when.</summary>
    [Id(1)] public ImmutableList<StorePolicy> History { get; init; } = [];

    /// <summary>Versions published to take effect later, in version order (which is also their order in time).</summary>
    [Id(2)] public ImmutableList<StorePolicy> Scheduled { get; init; } = [];

    /// <summary>The version in force at <paramref name="now"/>.</summary>
    public StorePolicy? CurrentAt(DateTimeOffset now)
    {
        var current = Policy;
        foreach (var version in Scheduled)
        {
            if (version.InForceFrom > now)
            {
                break;
            }

            current = version;
        }

        return current;
    }

    /// <summary>The versions still to take effect after <paramref name="now"/>, soonest first.</summary>
    public ImmutableList<StorePolicy> UpcomingAt(DateTimeOffset now) => Scheduled.RemoveAll(version => version.InForceFrom <= now);

    /// <summary>When the version in force next changes, if one is scheduled.</summary>
    public DateTimeOffset? NextChangeAfter(DateTimeOffset now)
    {
        foreach (var version in Scheduled)
        {
            if (version.InForceFrom > now)
            {
                return version.InForceFrom;
            }
        }

        return null;
    }

    /// <summary>
    /// How long a lease handed out at <paramref name="now"/> may run: never past the next scheduled version's effective
    /// time (nor past <paramref name="writing"/>, that of one being written), so that at that instant no copy of the
    /// version before it is left anywhere.
    /// </summary>
    public TimeSpan LeaseAt(DateTimeOffset now, TimeSpan lease, DateTimeOffset? writing)
    {
        var next = NextChangeAfter(now);
        if (writing is { } pending && (next is null || pending < next))
        {
            next = pending;
        }

        return next is { } until && until - now < lease ? until - now : lease;
    }

    /// <summary>The highest version published, in force or not: a new one must be above it.</summary>
    public StorePolicy? Latest => Scheduled.IsEmpty ? Policy : Scheduled[^1];

    /// <summary>The same versions with those in force at <paramref name="now"/> moved out of the schedule.</summary>
    public StoreState FoldedAt(DateTimeOffset now)
    {
        var due = Scheduled.TakeWhile(version => version.InForceFrom <= now).ToList();
        return due.Count == 0 ? this : this with
        {
            Policy = due[^1],
            History = History.AddRange(due),
            Scheduled = Scheduled.RemoveRange(0, due.Count),
        };
    }
}
