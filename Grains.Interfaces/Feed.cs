using System.Collections.Immutable;
using Orleans.Concurrency;

namespace ShopAstro.Grains.Interfaces;

/// <summary>Live-feed message types. Numeric values cross the wire: never renumber.</summary>
[GenerateSerializer]
public enum FeedEventType
{
    ConsentChanged = 0,
    PolicyChanged = 1,
    StatsChanged = 2,
    RequestOverdue = 3,

    /// <summary>A policy version was scheduled to take effect later (or, with <c>Cancelled</c>, withdrawn).</summary>
    PolicyScheduled = 4,
}

/// <summary>Counters of one purpose at one store: checks and choice events, and the current choices.</summary>
/// <param name="Granted">Subjects whose latest choice is a grant.</param>
/// <param name="Withdrawn">Subjects whose latest choice is a withdrawal.</param>
[GenerateSerializer, Immutable, Alias("shopastro.PurposeStats")]
public readonly record struct PurposeStats(
    [property: Id(0)] long Checks,
    [property: Id(1)] long Allowed,
    [property: Id(2)] long Grants,
    [property: Id(3)] long Withdrawals,
    [property: Id(4)] long Granted,
    [property: Id(5)] long Withdrawn)
{
    /// <summary>Share of current choices that are grants; null while nobody has chosen.</summary>
    public double? OptInRate => Granted + Withdrawn <= 0 ? null : (double)Granted / (Granted + Withdrawn);

    public bool IsZero => this == default;

    public PurposeStats Add(PurposeStats other) => new(
        Checks + other.Checks, Allowed + other.Allowed, Grants + other.Grants, Withdrawals + other.Withdrawals,
        Granted + other.Granted, Withdrawn + other.Withdrawn);
}

[GenerateSerializer, Immutable, Alias("shopastro.StoreStats")]
public sealed record StoreStats
{
    [Id(0)] public ImmutableDictionary<Purpose, PurposeStats> Purposes { get; init; } = ImmutableDictionary<Purpose, PurposeStats>.Empty;

    [Id(1)] public DateTimeOffset At { get; init; }

    public StoreStats Add(IReadOnlyDictionary<Purpose, PurposeStats> delta, DateTimeOffset at)
    {
        var purposes = Purposes.ToBuilder();
        foreach (var (purpose, stats) in delta)
        {
            purposes[purpose] = purposes.GetValueOrDefault(purpose).Add(stats);
        }

        return this with { Purposes = purposes.ToImmutable(), At = at };
    }
}

/// <summary>One change of a store, as the live feed carries it.</summary>
[GenerateSerializer, Immutable, Alias("shopastro.FeedEvent")]
public sealed record FeedEvent(
    [property: Id(0)] FeedEventType Type,
    [property: Id(1)] DateTimeOffset At,
    [property: Id(2)] string? SubjectId = null,
    [property: Id(3)] Purpose? Purpose = null,
    [property: Id(4)] bool? Granted = null,
    [property: Id(5)] StorePolicy? Policy = null,
    [property: Id(6)] StoreStats? Stats = null,
    [property: Id(7)] DataSubjectRequest? Request = null,
    [property: Id(8)] bool Cancelled = false);

/// <param name="Sequence">Increases per store; a jump tells the receiver it may have missed messages.</param>
[GenerateSerializer, Immutable, Alias("shopastro.FeedMessage")]
public sealed record FeedMessage(
    [property: Id(0)] string StoreId,
    [property: Id(1)] long Sequence,
    [property: Id(2)] FeedEvent Event);

/// <summary>An edge API process receiving a store's feed.</summary>
[Alias("shopastro.IStoreFeedObserver")]
public interface IStoreFeedObserver : IGrainObserver
{
    [Alias("OnFeed"), OneWay]
    Task OnFeed(FeedMessage[] messages);
}

/// <summary>
/// A store's live feed (key: store id): numbers every change and pushes it to the subscribed edge
/// processes. Publishing is one-way, so no dashboard ever slows a check or a write.
/// </summary>
[Alias("shopastro.IStoreFeedGrain")]
public interface IStoreFeedGrain : IGrainWithStringKey
{
    /// <summary>Subscribes or renews; a subscription not renewed within the expiry is dropped. Returns the current sequence.</summary>
    [Alias("Subscribe")]
    Task<long> Subscribe(IStoreFeedObserver observer);

    [Alias("Unsubscribe")]
    Task Unsubscribe(IStoreFeedObserver observer);

    [Alias("Publish"), OneWay]
    Task Publish(FeedEvent[] events);
}
