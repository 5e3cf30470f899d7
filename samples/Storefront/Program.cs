using ShopAstro.Samples.Storefront;

var builder = WebApplication.CreateBuilder(args);
builder.AddStorefront();

var app = builder.Build();
app.MapStorefront();
app.Run();

/// <summary>
/// Internal on purpose: tests reference both this sample and the edge API, whose <c>Program</c> is public; they
/// name this assembly through <see cref="SampleStorefront"/>.
/// </summary>
internal sealed partial class Program;
