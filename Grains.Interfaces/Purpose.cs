namespace ShopAstro.Grains.Interfaces;

/// <summary>The processing purposes of policy-rules.md. Numeric values are persisted: never renumber.</summary>
[GenerateSerializer]
public enum Purpose
{
    Necessary = 0,
    Cart = 1,
    Analytics = 2,
    Recommendation = 3,
    Advertising = 4,
    AffiliateSharing = 5,
}

public static class Purposes
{
    public const int Count = 6;

    public static IReadOnlyList<Purpose> All { get; } =
        [Purpose.Necessary, Purpose.Cart, Purpose.Analytics, Purpose.Recommendation, Purpose.Advertising, Purpose.AffiliateSharing];

    public static IReadOnlyList<Purpose> ConsentBased { get; } =
        [Purpose.Analytics, Purpose.Recommendation, Purpose.Advertising, Purpose.AffiliateSharing];

    public static string ToId(this Purpose purpose) => purpose switch
    {
        Purpose.Necessary => "necessary",
        Purpose.Cart => "cart",
        Purpose.Analytics => "analytics",
        Purpose.Recommendation => "recommendation",
        Purpose.Advertising => "advertising",
        Purpose.AffiliateSharing => "affiliate_sharing",
        _ => throw new ArgumentOutOfRangeException(nameof(purpose), purpose, null),
    };

    public static bool TryParse(ReadOnlySpan<char> id, out Purpose purpose)
    {
        switch (id)
        {
            case "necessary": purpose = Purpose.Necessary; return true;
            case "cart": purpose = Purpose.Cart; return true;
            case "analytics": purpose = Purpose.Analytics; return true;
            case "recommendation": purpose = Purpose.Recommendation; return true;
            case "advertising": purpose = Purpose.Advertising; return true;
            case "affiliate_sharing": purpose = Purpose.AffiliateSharing; return true;
            default: purpose = default; return false;
        }
    }

    /// <summary>Necessary processing and the shopping contract have their own lawful basis; the rest need consent.</summary>
    public static bool IsConsentBased(this Purpose purpose) => purpose >= Purpose.Analytics;

    /// <summary>§1(3): the seller attests its shoppers are informed before these can be enabled.</summary>
    public static bool RequiresSellerAttestation(this Purpose purpose) =>
        purpose is Purpose.Recommendation or Purpose.Advertising;
}
