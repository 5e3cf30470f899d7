using ShopAstro.Grains.Feed;
using ShopAstro.Grains.Interfaces;
using ShopAstro.Stats;

namespace ShopAstro.Grains;

/// <summary>What a subject's acknowledged change tells beside its record: the store's statistics and its live feed.</summary>
internal static class SubjectChangeAnnouncement
{
    /// <summary>
    /// Counts the change for the store's statistics and tells the live feed which choices changed. One-way:
    /// the feed never slows the write that was just acknowledged.
    /// </summary>
    public static void Announce(
        IGrainFactory grains,
        StoreStatsCollector.Counters counters,
        string storeId,
        string subjectId,
        SubjectRecord before,
        SubjectRecord after,
        DateTimeOffset at,
        bool countAsChoices)
    {
        List<FeedEvent>? events = null;
        foreach (var purpose in Purposes.ConsentBased)
        {
            var was = before.Consents.GetValueOrDefault(purpose);
            var now = after.Consents.GetValueOrDefault(purpose);
            if (ReferenceEquals(was, now))
            {
                continue;
            }

            counters.Chose(purpose, was?.Granted, now?.Granted, countAsChoices);
            if (now is not null)
            {
                (events ??= []).Add(new FeedEvent(FeedEventType.ConsentChanged, at, subjectId, purpose, now.Granted));
            }
        }

        if (events is not null)
        {
            grains.Of<IStoreFeedGrain>(storeId).Publish([.. events]).Ignore();
        }
    }
}
