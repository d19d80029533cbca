// The RealMaster panel: enable, prompt box, weather presets, strength, fine detail (the guided
// upsample's ridge), mode, live statistics.
// Every control reads and writes the r.RealMaster.* console variables, so the panel, the toolbar
// toggle, the console and Movie Render Queue never disagree.
#pragma once

#include "CoreMinimal.h"
#include "Widgets/DeclarativeSyntaxSupport.h"
#include "Widgets/SCompoundWidget.h"

class SEditableTextBox;

class SRealMasterPanel : public SCompoundWidget
{
public:
	SLATE_BEGIN_ARGS(SRealMasterPanel) {}
	SLATE_END_ARGS()

	void Construct(const FArguments& InArgs);

private:
	TSharedRef<SWidget> MakePresetButtons();
	TSharedRef<SWidget> MakeUpsampleEpsButtons();
	FText GetStatsText() const;
	FText GetMessageText() const;
	void CommitPrompt(const FText& Text, ETextCommit::Type CommitType);

	TSharedPtr<SEditableTextBox> PromptBox;
};
